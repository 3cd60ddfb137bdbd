// The catalogue of errors spoke itself answers with (SPEC §5). This is the only place that maps a
// code to an HTTP status and a gRPC status; everything else refers to the code.

export type ErrorCode =
  | 'no_endpoints'
  | 'connect_failed'
  | 'upstream_reset'
  | 'timeout'
  | 'overloaded'
  | 'shard_unavailable'
  | 'missing_hash_key'
  | 'bad_request'
  | 'unknown_pod'
  | 'body_too_large'
  | 'headers_too_large'

interface CatalogueEntry {
  readonly http: number
  /** gRPC status code sent in a trailers-only response. */
  readonly grpc: number
  readonly message: string
}

const CATALOGUE: Readonly<Record<ErrorCode, CatalogueEntry>> = {
  no_endpoints: { http: 503, grpc: 14, message: 'no endpoints available for the upstream' },
  connect_failed: { http: 502, grpc: 14, message: 'could not connect to an endpoint' },
  upstream_reset: { http: 502, grpc: 14, message: 'the endpoint closed the connection before answering' },
  timeout: { http: 504, grpc: 4, message: 'the request timed out' },
  overloaded: { http: 503, grpc: 8, message: 'too many concurrent requests for the upstream' },
  shard_unavailable: { http: 503, grpc: 14, message: 'the pod owning this key is not available' },
  missing_hash_key: { http: 400, grpc: 3, message: 'the request lacks the hash key' },
  bad_request: { http: 400, grpc: 3, message: 'malformed request' },
  unknown_pod: { http: 404, grpc: 5, message: 'no such pod in the upstream' },
  body_too_large: { http: 413, grpc: 8, message: 'request body too large' },
  headers_too_large: { http: 431, grpc: 8, message: 'request headers too large' },
}

export function httpStatusOf(code: ErrorCode): number {
  return CATALOGUE[code].http
}

export function grpcStatusOf(code: ErrorCode): number {
  return CATALOGUE[code].grpc
}

export function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc')
}

/** The JSON body of SPEC §5. */
export function errorBody(code: ErrorCode, message: string, upstream: string): string {
  return JSON.stringify({ error: code, message, upstream })
}

/**
 * grpc-message is percent-encoded as the gRPC over HTTP/2 spec says: UTF-8 bytes outside
 * printable ASCII (0x20–0x7E), and '%' itself, become %XX; everything else stays readable.
 */
export function grpcMessage(message: string): string {
  let out = ''
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/**
 * A raw HTTP/1.1 response for errors found while parsing, when no ServerResponse exists yet. It
 * names the listener's upstream like every other answer of spoke's (SPEC §5).
 */
export function rawHttp1Error(code: ErrorCode, upstream: string, message: string = CATALOGUE[code].message): string {
  const status = CATALOGUE[code].http
  const body = errorBody(code, message, upstream)
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    `content-type: application/json\r\nx-spoke-error: ${code}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 413: 'Payload Too Large',
  431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}
