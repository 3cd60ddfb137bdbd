// Hand-built HTTP/2 frames (RFC 9113 §4, §6) for hostile-client tests: node:http2's client
// refuses to misbehave, so floods and malformed sequences are written byte by byte on a socket.
// HPACK (RFC 7541) is encoded without Huffman coding, which every decoder must accept.
import net from 'node:net'

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export const TYPE = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const
export const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const
export const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11 } as const

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length)
  out.writeUIntBE(payload.length, 0, 3)
  out[3] = type
  out[4] = flags
  out.writeUInt32BE(streamId & 0x7fffffff, 5)
  payload.copy(out, 9)
  return out
}

export function settings(entries: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.allocUnsafe(entries.length * 6)
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6)
    payload.writeUInt32BE(value, i * 6 + 2)
  })
  return frame(TYPE.SETTINGS, 0, 0, payload)
}

export const settingsAck = (): Buffer => frame(TYPE.SETTINGS, FLAG.ACK, 0)
export const ping = (data = Buffer.alloc(8)): Buffer => frame(TYPE.PING, 0, 0, data)
export const headers = (streamId: number, block: Buffer, flags = FLAG.END_HEADERS | FLAG.END_STREAM): Buffer => frame(TYPE.HEADERS, flags, streamId, block)
export const continuation = (streamId: number, block: Buffer, flags = 0): Buffer => frame(TYPE.CONTINUATION, flags, streamId, block)
export const data = (streamId: number, payload: Buffer, flags = 0): Buffer => frame(TYPE.DATA, flags, streamId, payload)

export function rstStream(streamId: number, code: number = ERROR.CANCEL): Buffer {
  const payload = Buffer.allocUnsafe(4)
  payload.writeUInt32BE(code)
  return frame(TYPE.RST_STREAM, 0, streamId, payload)
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4)
  payload.writeUInt32BE(increment)
  return frame(TYPE.WINDOW_UPDATE, 0, streamId, payload)
}

// ---- HPACK (RFC 7541)

/** §5.1: an integer with an N-bit prefix; `high` holds the representation's leading bits. */
export function hpackInt(value: number, prefixBits: number, high = 0): Buffer {
  const max = (1 << prefixBits) - 1
  if (value < max) return Buffer.from([high | value])
  const bytes = [high | max]
  let rest = value - max
  while (rest >= 128) {
    bytes.push((rest % 128) + 128)
    rest = Math.floor(rest / 128)
  }
  bytes.push(rest)
  return Buffer.from(bytes)
}

/** §5.2: a string literal, raw (no Huffman). */
export function hpackString(s: string | Buffer): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'latin1') : s
  return Buffer.concat([hpackInt(bytes.length, 7), bytes])
}

/** §6.2.2: a literal field that is not added to the dynamic table. */
export function literal(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)])
}

/** §6.2.1: a literal field that is added to the dynamic table (index 62 is the newest entry). */
export function literalIndexed(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)])
}

/** §6.1: a field from the static (1–61) or dynamic (62…) table. */
export const indexed = (index: number): Buffer => hpackInt(index, 7, 0x80)

/** A request's header block of plain literals. */
export function requestBlock(path: string, extra: ReadonlyArray<readonly [string, string]> = [], method = 'GET'): Buffer {
  return Buffer.concat([
    literal(':method', method), literal(':scheme', 'http'), literal(':path', path), literal(':authority', 'spoke.test'),
    ...extra.map(([n, v]) => literal(n, v)),
  ])
}

// ---- reading the server's frames

export interface ReceivedFrame {
  readonly type: number
  readonly flags: number
  readonly streamId: number
  readonly payload: Buffer
}

/** How long a write may wait for the server to take the bytes, by default. */
export const WRITE_WITHIN_MS = 10_000

/**
 * A raw HTTP/2 client connection: everything the server sends is split into frames. The server's
 * header blocks are not decoded (a HEADERS frame on a stream is enough to know it answered).
 */
export class RawH2Client {
  readonly socket: net.Socket
  readonly frames: ReceivedFrame[] = []
  closed = false
  #buffer: Buffer = Buffer.alloc(0)
  #closedPromise: Promise<void>

  private constructor(socket: net.Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => this.#push(chunk))
    // A flood writer sees EPIPE/ECONNRESET once the server has closed: expected.
    socket.on('error', () => {})
    this.#closedPromise = new Promise((resolve) => socket.once('close', () => {
      this.closed = true
      resolve()
    }))
  }

  /** `allowHalfOpen`: the socket does not end its side when the server's FIN arrives. */
  static connect(port: number, host = '127.0.0.1', options: { allowHalfOpen?: boolean } = {}): Promise<RawH2Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true, allowHalfOpen: options.allowHalfOpen ?? false }, () => {
        socket.off('error', reject)
        resolve(new RawH2Client(socket))
      })
      socket.once('error', reject)
    })
  }

  /** Preface and an empty SETTINGS, as every client starts. */
  start(extra: ReadonlyArray<readonly [number, number]> = []): void {
    this.socket.write(Buffer.concat([PREFACE, settings(extra)]))
  }

  /**
   * Resolves true once the kernel has taken the bytes; false if the connection closes first, or
   * if the server has not taken them within `withinMs` (it stopped reading and left the
   * connection open). The write's own callback settles it, not 'drain': a socket that is ending
   * (the server's FIN arrived, and a socket that does not allow half-open connections ends its
   * side too) or already destroyed never emits 'drain'.
   */
  write(bytes: Buffer, withinMs = WRITE_WITHIN_MS): Promise<boolean> {
    if (this.closed || this.socket.destroyed) return Promise.resolve(false)
    return new Promise((resolve) => {
      const settle = (ok: boolean): void => {
        clearTimeout(timer)
        this.socket.off('close', onClose)
        resolve(ok)
      }
      const onClose = (): void => settle(false)
      const timer = setTimeout(onClose, withinMs)
      this.socket.once('close', onClose)
      this.socket.write(bytes, (err) => settle(err == null))
    })
  }

  /** Resolves true once the connection is closed, false if it is still open after `ms`. */
  closedWithin(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true)
    let timer: NodeJS.Timeout | undefined
    return Promise.race([
      this.#closedPromise.then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms) }),
    ]).finally(() => clearTimeout(timer))
  }

  goaway(): { lastStreamId: number; code: number } | null {
    const f = this.frames.find((x) => x.type === TYPE.GOAWAY)
    if (f === undefined) return null
    return { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) }
  }

  count(type: number): number {
    return this.frames.filter((f) => f.type === type).length
  }

  destroy(): void {
    this.socket.destroy()
  }

  #push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk])
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3)
      if (this.#buffer.length < 9 + length) break
      const payload = this.#buffer.subarray(9, 9 + length)
      // Keep only what the tests read: the frame list of a flood would otherwise hold every DATA byte.
      this.frames.push({
        type: this.#buffer[3], flags: this.#buffer[4], streamId: this.#buffer.readUInt32BE(5) & 0x7fffffff,
        payload: this.#buffer[3] === TYPE.DATA ? Buffer.alloc(0) : Buffer.from(payload),
      })
      this.#buffer = this.#buffer.subarray(9 + length)
    }
  }
}
