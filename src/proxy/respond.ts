// Writes spoke's own error answers (SPEC §5): JSON with x-spoke-error for HTTP, a trailers-only
// response with grpc-status for gRPC.
import type { ServerResponse } from 'node:http'
import { type ErrorCode, errorBody, grpcMessage, grpcStatusOf, httpStatusOf } from './errors.ts'

/** Returns the HTTP status written (what spoke_requests_total counts). */
export function sendError(res: ServerResponse, code: ErrorCode, message: string, upstream: string | null, grpc: boolean): number {
  if (res.headersSent) {
    // Too late for a status: cut the connection so the app sees a broken response, never a
    // silently truncated 200.
    res.destroy()
    return res.statusCode
  }
  if (grpc) {
    res.writeHead(200, [
      'content-type', 'application/grpc',
      'grpc-status', String(grpcStatusOf(code)),
      'grpc-message', grpcMessage(message),
      'x-spoke-error', code,
    ])
    res.end()
    return 200
  }
  const status = httpStatusOf(code)
  const body = errorBody(code, message, upstream)
  res.writeHead(status, [
    'content-type', 'application/json',
    'x-spoke-error', code,
    'content-length', String(Buffer.byteLength(body)),
  ])
  res.end(body)
  return status
}
