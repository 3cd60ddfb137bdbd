// The gRPC status an app's client makes of the answer spoke passed on, for the access log and
// spoke_grpc_responses_total: what grpc-js (subchannel-call.ts) reports, so that spoke's count
// matches the errors the app sees.
import type { IncomingHttpHeaders } from 'node:http'

export const GRPC_CANCELLED = 1
export const GRPC_UNKNOWN = 2
export const GRPC_INTERNAL = 13

/** A grpc-status value as a count's index: codes outside 0–16 (there are none today) count as UNKNOWN. */
export function grpcCode(value: string): number {
  const code = Number(value)
  return Number.isInteger(code) && code >= 0 && code <= 16 ? code : GRPC_UNKNOWN
}

/** grpc-js's reading of an HTTP status when no grpc-status came (its mapHttpStatusCode). */
function fromHttpStatus(status: number): number {
  switch (status) {
    case 400: return GRPC_INTERNAL
    case 401: return 16
    case 403: return 7
    case 404: return 12
    case 429: case 502: case 503: case 504: return 14
    default: return GRPC_UNKNOWN
  }
}

/** A trailers-only answer: the head (flat name/value list) ended the stream. */
export function grpcStatusOfHead(status: number, flat: readonly string[]): number {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i].length === 11 && flat[i].toLowerCase() === 'grpc-status') return grpcCode(flat[i + 1])
  }
  return fromHttpStatus(status)
}

/**
 * An answer that ended after its head. Without grpc-status, trailers with other fields read as
 * the HTTP status; no trailers at all (spoke then ends the stream with an empty DATA frame) is
 * "call ended without gRPC status": INTERNAL on a 200.
 */
export function grpcStatusOfEnd(status: number, trailers: IncomingHttpHeaders): number {
  const value = trailers['grpc-status']
  if (typeof value === 'string') return grpcCode(value)
  if (status !== 200) return fromHttpStatus(status)
  for (const _ in trailers) return GRPC_UNKNOWN
  return GRPC_INTERNAL
}
