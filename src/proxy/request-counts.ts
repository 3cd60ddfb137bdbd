// What the listener counts of the answers it gives the app.

/** Answers to the app by HTTP status (spoke_requests_total). */
export interface RequestCounts {
  readonly byStatus: Float64Array
}

/** nginx's convention for "the client went away before an answer": no status reached it. */
export const CLIENT_CLOSED = 499
