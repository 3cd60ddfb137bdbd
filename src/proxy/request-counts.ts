// What every listener counts of the answers the app got, whichever path answered it (forwarding,
// broadcast, a tunnel, a refusal of the adapters): spoke_requests_total by status.

/** Answers to the app by HTTP status (spoke_requests_total). */
export interface RequestCounts {
  readonly byStatus: Float64Array
}

/** nginx's convention for "the client went away before an answer": no status reached it. */
export const CLIENT_CLOSED = 499
