// spoke's own error answer (SPEC §5) as a head and a body, the same for both protocols: JSON with
// x-spoke-error for HTTP, a trailers-only answer with grpc-status for gRPC. The adapters send it
// each in their own way (Downstream.fail).
import { type ErrorCode, errorBody, grpcMessage, grpcStatusOf, httpStatusOf } from './errors.ts'

export interface ErrorAnswer {
  readonly status: number
  /** Flat [name, value, …], as Downstream.respond takes them. */
  readonly headers: string[]
  /** Absent for gRPC: its answer is the head alone. */
  readonly body?: string
}

export function errorAnswer(code: ErrorCode, message: string, upstream: string, grpc: boolean): ErrorAnswer {
  if (grpc) {
    return {
      status: 200,
      headers: [
        'content-type', 'application/grpc',
        'grpc-status', String(grpcStatusOf(code)),
        'grpc-message', grpcMessage(message),
        'x-spoke-error', code,
      ],
    }
  }
  const body = errorBody(code, message, upstream)
  return {
    status: httpStatusOf(code),
    headers: ['content-type', 'application/json', 'x-spoke-error', code, 'content-length', String(Buffer.byteLength(body))],
    body,
  }
}
