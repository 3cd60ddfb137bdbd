// What every listener counts of the answers the app got, whichever path answered it (forwarding,
// broadcast, a tunnel, a refusal of the adapters): spoke_requests_total by status.

/** Answers to the app by HTTP status (spoke_requests_total), and gRPC calls by status (spoke_grpc_responses_total). */
export interface RequestCounts {
  readonly byStatus: Float64Array
  /** Index: the gRPC status code, 0–16 (grpc-status.ts folds anything else into 2 UNKNOWN). */
  readonly byGrpcStatus: Float64Array
}

export function requestCounts(): RequestCounts {
  return { byStatus: new Float64Array(600), byGrpcStatus: new Float64Array(17) }
}

/** One answer to the app: `grpcStatus` -1 when the request was not a gRPC call. */
export function countAnswer(counts: RequestCounts, status: number, grpcStatus: number): void {
  counts.byStatus[status < 600 ? status : 0]++
  if (grpcStatus >= 0) counts.byGrpcStatus[grpcStatus]++
}

/** nginx's convention for "the client went away before an answer": no status reached it. */
export const CLIENT_CLOSED = 499
