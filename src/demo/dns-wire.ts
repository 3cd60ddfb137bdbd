// The DNS wire format (RFC 1035) as far as the demo DNS server needs it: parsing one query,
// building its reply, and encoding the RDATA of the records it serves. Only bytes here, no sockets
// and no zone: dns-server.ts decides what to answer, this module how it looks on the wire.
import net from 'node:net'

export type DnsRecordType = 'A' | 'AAAA' | 'SRV'

export interface SrvRecord {
  readonly target: string
  readonly port: number
  readonly priority?: number
  readonly weight?: number
}

const TYPE_A = 1
const TYPE_AAAA = 28
const TYPE_SRV = 33
const TYPE_OPT = 41
export const CLASS_IN = 1
export const TYPE_NAMES: Record<number, DnsRecordType> = { [TYPE_A]: 'A', [TYPE_AAAA]: 'AAAA', [TYPE_SRV]: 'SRV' }

export const RCODE = { noerror: 0, formerr: 1, servfail: 2, nxdomain: 3, notimp: 4, refused: 5 } as const
const HEADER_SIZE = 12
// RFC 1035 §4.2.1; a larger EDNS size is honoured only up to what a UDP answer should carry.
export const PLAIN_UDP_LIMIT = 512
const EDNS_UDP_LIMIT = 4096
export const TCP_LIMIT = 0xffff

interface Question {
  /** Labels as received (case kept, latin1 so every byte survives). */
  readonly labels: readonly string[]
  readonly type: number
  readonly qclass: number
}

export interface ParsedQuery {
  readonly id: number
  readonly opcode: number
  readonly rd: boolean
  /** null when QDCOUNT is not 1: answered FORMERR. */
  readonly question: Question | null
  /** Largest reply the transport carries; beyond it answers are cut and TC set. */
  readonly limit: number
}

class Malformed extends Error {}

/** null for anything that is not a query worth answering (a response, a truncated header). */
export function parseQuery(msg: Buffer, transportLimit: number): ParsedQuery | null {
  if (msg.length < HEADER_SIZE) return null
  const id = msg.readUInt16BE(0)
  const flags = msg.readUInt16BE(2)
  if (flags & 0x8000) return null
  const opcode = (flags >> 11) & 0xf
  const rd = (flags & 0x0100) !== 0
  const qdcount = msg.readUInt16BE(4)
  if (opcode !== 0 || qdcount !== 1) return { id, opcode, rd, question: null, limit: transportLimit }

  const name = readName(msg, HEADER_SIZE)
  let offset = name.end
  if (offset + 4 > msg.length) throw new Malformed('short question')
  const question = { labels: name.labels, type: msg.readUInt16BE(offset), qclass: msg.readUInt16BE(offset + 2) }
  offset += 4
  const limit = transportLimit === PLAIN_UDP_LIMIT ? ednsLimit(msg, offset) : transportLimit
  return { id, opcode, rd, question, limit }
}

/** The UDP size the client advertised in an OPT record, if any; a broken tail only loses it. */
function ednsLimit(msg: Buffer, offset: number): number {
  const records = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10)
  try {
    for (let i = 0; i < records; i++) {
      offset = readName(msg, offset).end
      if (offset + 10 > msg.length) return PLAIN_UDP_LIMIT
      const type = msg.readUInt16BE(offset)
      const size = msg.readUInt16BE(offset + 2)
      if (type === TYPE_OPT) return Math.min(Math.max(size, PLAIN_UDP_LIMIT), EDNS_UDP_LIMIT)
      offset += 10 + msg.readUInt16BE(offset + 8)
    }
  } catch {
    // fall through
  }
  return PLAIN_UDP_LIMIT
}

/** Decodes a possibly compressed name; `end` is where the name ends at its original position. */
function readName(msg: Buffer, start: number): { labels: string[]; end: number } {
  const labels: string[] = []
  let offset = start
  let end = -1
  let length = 1
  // Each pointer must go strictly backwards, so a loop cannot be built; the hop cap is belt and braces.
  for (let hops = 0; hops < 128; hops++) {
    if (offset >= msg.length) throw new Malformed('name past end')
    const len = msg[offset]
    if ((len & 0xc0) === 0xc0) {
      if (offset + 1 >= msg.length) throw new Malformed('short pointer')
      const target = ((len & 0x3f) << 8) | msg[offset + 1]
      if (target >= offset) throw new Malformed('forward pointer')
      if (end < 0) end = offset + 2
      offset = target
      continue
    }
    if (len & 0xc0) throw new Malformed('unknown label type')
    if (len === 0) return { labels, end: end < 0 ? offset + 1 : end }
    if (offset + 1 + len > msg.length) throw new Malformed('label past end')
    length += len + 1
    if (length > 255) throw new Malformed('name too long')
    labels.push(msg.toString('latin1', offset + 1, offset + 1 + len))
    offset += 1 + len
  }
  throw new Malformed('too many labels')
}

export function buildReply(q: ParsedQuery, rcode: number, rdata: readonly Buffer[], ttl: number): Buffer {
  const parts: Buffer[] = []
  let size = HEADER_SIZE
  if (q.question !== null) {
    const question = Buffer.concat([encodeLabels(q.question.labels), u16(q.question.type), u16(q.question.qclass)])
    parts.push(question)
    size += question.length
  }
  let answers = 0
  let truncated = false
  for (const data of rdata) {
    // The owner is the question's name, which always sits at offset 12.
    const rr = Buffer.concat([u16(0xc00c), u16(q.question!.type), u16(CLASS_IN), u32(ttl), u16(data.length), data])
    if (size + rr.length > q.limit) {
      truncated = true
      break
    }
    parts.push(rr)
    size += rr.length
    answers++
  }
  const header = Buffer.alloc(HEADER_SIZE)
  header.writeUInt16BE(q.id, 0)
  const flags = 0x8000 | (q.opcode << 11) | 0x0400 | (truncated ? 0x0200 : 0) | (q.rd ? 0x0100 : 0) | rcode
  header.writeUInt16BE(flags, 2)
  header.writeUInt16BE(q.question === null ? 0 : 1, 4)
  header.writeUInt16BE(answers, 6)
  return Buffer.concat([header, ...parts])
}

function encodeLabels(labels: readonly string[]): Buffer {
  const parts: Buffer[] = []
  for (const label of labels) {
    const bytes = Buffer.from(label, 'latin1')
    if (bytes.length === 0 || bytes.length > 63) throw new RangeError(`bad DNS label "${label}"`)
    parts.push(Buffer.from([bytes.length]), bytes)
  }
  parts.push(Buffer.from([0]))
  const out = Buffer.concat(parts)
  if (out.length > 255) throw new RangeError('DNS name too long')
  return out
}

function encodeName(name: string): Buffer {
  const n = name.endsWith('.') ? name.slice(0, -1) : name
  return encodeLabels(n === '' ? [] : n.split('.'))
}

export function encodeIPv4(address: string): Buffer {
  if (!net.isIPv4(address)) throw new TypeError(`not an IPv4 address: ${address}`)
  return Buffer.from(address.split('.').map(Number))
}

export function encodeIPv6(address: string): Buffer {
  if (!net.isIPv6(address)) throw new TypeError(`not an IPv6 address: ${address}`)
  let text = address
  const out = Buffer.alloc(16)
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hextets.
  const dotted = text.lastIndexOf(':') < text.lastIndexOf('.')
  if (dotted) {
    const cut = text.lastIndexOf(':')
    const v4 = encodeIPv4(text.slice(cut + 1))
    text = `${text.slice(0, cut + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null]
  const left = head === '' ? [] : head.split(':')
  const right = tail === null || tail === '' ? [] : tail.split(':')
  const groups = tail === null ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

export function encodeSrv(r: SrvRecord): Buffer {
  for (const [field, v] of [['port', r.port], ['priority', r.priority ?? 0], ['weight', r.weight ?? 0]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`bad SRV ${field} ${v}`)
  }
  // RFC 2782: the target is never compressed.
  return Buffer.concat([u16(r.priority ?? 0), u16(r.weight ?? 0), u16(r.port), encodeName(r.target)])
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
