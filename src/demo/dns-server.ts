// A small authoritative DNS server over UDP for tests, the demo and benchmarks. It answers A,
// AAAA and SRV from an in-memory zone and can be told to fail (SERVFAIL, REFUSED, or silence).
// It also listens on TCP at the same port, because c-ares sends no EDNS and so retries over TCP
// any answer that does not fit 512 bytes (about eight SRV records).
import dgram from 'node:dgram'
import { EventEmitter } from 'node:events'
import net from 'node:net'

export type DnsBehaviour = 'normal' | 'servfail' | 'refused' | 'drop'
export type DnsRecordType = 'A' | 'AAAA' | 'SRV'

export interface SrvRecord {
  readonly target: string
  readonly port: number
  readonly priority?: number
  readonly weight?: number
}

export interface DnsQueryEvent {
  /** Lower case, no trailing dot. */
  readonly name: string
  /** `A`, `AAAA`, `SRV`, or `TYPE<n>` for any other. */
  readonly type: string
  readonly behaviour: DnsBehaviour
}

export interface DnsServerOptions {
  readonly host?: string
  readonly port?: number
}

const TYPE_A = 1
const TYPE_AAAA = 28
const TYPE_SRV = 33
const TYPE_OPT = 41
const CLASS_IN = 1
const TYPE_NAMES: Record<number, DnsRecordType> = { [TYPE_A]: 'A', [TYPE_AAAA]: 'AAAA', [TYPE_SRV]: 'SRV' }

const RCODE = { noerror: 0, formerr: 1, servfail: 2, nxdomain: 3, notimp: 4, refused: 5 } as const
const HEADER_SIZE = 12
// RFC 1035 §4.2.1; a larger EDNS size is honoured only up to what a UDP answer should carry.
const PLAIN_UDP_LIMIT = 512
const EDNS_UDP_LIMIT = 4096
const TCP_LIMIT = 0xffff

interface RRSet {
  readonly ttl: number
  /** Encoded RDATA, one entry per record. */
  readonly rdata: readonly Buffer[]
}

type ZoneNode = Partial<Record<DnsRecordType, RRSet>>

export class DnsServer extends EventEmitter<{ query: [DnsQueryEvent] }> {
  #socket: dgram.Socket
  #tcp: net.Server
  #zone = new Map<string, ZoneNode>()
  #behaviours = new Map<string, DnsBehaviour>()
  #queries = new Map<string, number>()
  #connections = new Set<net.Socket>()
  #closed: Promise<void> | null = null
  #latencyMs = 0

  private constructor(socket: dgram.Socket, tcp: net.Server) {
    super()
    this.#socket = socket
    this.#tcp = tcp
    socket.on('message', (msg, rinfo) => {
      const reply = this.#handle(msg, PLAIN_UDP_LIMIT)
      if (reply !== null) this.#later(() => socket.send(reply, rinfo.port, rinfo.address, () => {}))
    })
    // A send to a vanished client must not take the server down.
    socket.on('error', () => {})
    tcp.on('connection', (conn) => this.#onTcp(conn))
  }

  static async start({ host = '127.0.0.1', port = 0 }: DnsServerOptions = {}): Promise<DnsServer> {
    // With port 0 the UDP port the OS picks may be taken on TCP: pick again.
    for (let attempt = 0; ; attempt++) {
      const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
      await listen(socket, (cb) => socket.bind(port, host, cb))
      const tcp = net.createServer()
      try {
        await listen(tcp, (cb) => tcp.listen(socket.address().port, host, cb))
        return new DnsServer(socket, tcp)
      } catch (err) {
        socket.close()
        if (port !== 0 || attempt >= 10) throw err
      }
    }
  }

  get address(): { host: string; port: number } {
    const a = this.#socket.address()
    return { host: a.address, port: a.port }
  }

  /** Per `name/TYPE` (lower-case name without trailing dot), every query received, dropped ones too. */
  get queries(): ReadonlyMap<string, number> {
    return this.#queries
  }

  queryCount(name: string, type: string): number {
    return this.#queries.get(`${normalize(name)}/${type.toUpperCase()}`) ?? 0
  }

  setA(name: string, addresses: readonly string[], ttl = 5): void {
    this.#set(name, 'A', ttl, addresses.map((a) => encodeIPv4(a)))
  }

  setAAAA(name: string, addresses: readonly string[], ttl = 5): void {
    this.#set(name, 'AAAA', ttl, addresses.map((a) => encodeIPv6(a)))
  }

  setSrv(name: string, records: readonly SrvRecord[], ttl = 5): void {
    this.#set(name, 'SRV', ttl, records.map((r) => encodeSrv(r)))
  }

  /** The name and all its records go: queries get NXDOMAIN (NODATA if names below it remain). */
  remove(name: string): void {
    this.#zone.delete(normalize(name))
  }

  /**
   * `'*'` applies to every name without a behaviour of its own. With `type`, only queries of that
   * type (a server that fails AAAA but answers A); it wins over the name's own behaviour.
   */
  setBehaviour(name: string, behaviour: DnsBehaviour, type?: DnsRecordType): void {
    const key = name === '*' ? '*' : normalize(name)
    this.#behaviours.set(type === undefined ? key : `${key}/${type}`, behaviour)
  }

  /** Every answer from now on is sent this much later (a slow or distant server). */
  setLatency(ms: number): void {
    this.#latencyMs = ms
  }

  close(): Promise<void> {
    this.#closed ??= Promise.all([
      new Promise<void>((resolve) => this.#socket.close(() => resolve())),
      new Promise<void>((resolve) => {
        this.#tcp.close(() => resolve())
        for (const conn of this.#connections) conn.destroy()
      }),
    ]).then(() => {})
    return this.#closed
  }

  #set(name: string, type: DnsRecordType, ttl: number, rdata: Buffer[]): void {
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) throw new RangeError(`bad TTL ${ttl}`)
    const key = normalize(name)
    const node = this.#zone.get(key) ?? {}
    node[type] = { ttl, rdata }
    this.#zone.set(key, node)
  }

  /** RFC 1035 §4.2.2: each message is preceded by its two-byte length. */
  #onTcp(conn: net.Socket): void {
    this.#connections.add(conn)
    conn.on('close', () => this.#connections.delete(conn))
    conn.on('error', () => {})
    let pending = Buffer.alloc(0)
    conn.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk])
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const msg = pending.subarray(2, 2 + pending.readUInt16BE(0))
        pending = pending.subarray(2 + msg.length)
        const reply = this.#handle(msg, TCP_LIMIT)
        if (reply !== null) this.#later(() => conn.write(Buffer.concat([u16(reply.length), reply])))
      }
    })
  }

  #later(send: () => void): void {
    if (this.#latencyMs <= 0) return send()
    setTimeout(() => {
      if (this.#closed === null) send()
    }, this.#latencyMs).unref()
  }

  /** The reply to one message, or null to stay silent (malformed, or told to drop). */
  #handle(msg: Buffer, transportLimit: number): Buffer | null {
    let query: ParsedQuery | null
    try {
      query = parseQuery(msg, transportLimit)
    } catch {
      query = null
    }
    return query === null ? null : this.#answer(query)
  }

  #answer(q: ParsedQuery): Buffer | null {
    if (q.opcode !== 0) return buildReply(q, RCODE.notimp, [], 0)
    if (q.question === null) return buildReply(q, RCODE.formerr, [], 0)
    const key = q.question.labels.join('.').toLowerCase()
    const typeName = TYPE_NAMES[q.question.type] ?? `TYPE${q.question.type}`
    const stat = `${key}/${typeName}`
    this.#queries.set(stat, (this.#queries.get(stat) ?? 0) + 1)
    const behaviour =
      this.#behaviours.get(stat) ?? this.#behaviours.get(key) ?? this.#behaviours.get(`*/${typeName}`) ??
      this.#behaviours.get('*') ?? 'normal'
    this.emit('query', { name: key, type: typeName, behaviour })

    if (behaviour === 'drop') return null
    if (behaviour === 'servfail') return buildReply(q, RCODE.servfail, [], 0)
    if (behaviour === 'refused') return buildReply(q, RCODE.refused, [], 0)
    if (q.question.qclass !== CLASS_IN) return buildReply(q, RCODE.refused, [], 0)

    const node = this.#zone.get(key)
    if (node === undefined && !this.#hasDescendant(key)) return buildReply(q, RCODE.nxdomain, [], 0)
    const type = TYPE_NAMES[q.question.type]
    const set = type === undefined ? undefined : node?.[type]
    return buildReply(q, RCODE.noerror, set?.rdata ?? [], set?.ttl ?? 0)
  }

  // An empty non-terminal (`_tcp.orders…` when only `_http._tcp.orders…` holds records) exists
  // and answers NODATA, as RFC 8020 requires of a real server.
  #hasDescendant(key: string): boolean {
    const suffix = '.' + key
    for (const name of this.#zone.keys()) if (name.endsWith(suffix)) return true
    return false
  }
}

export function startDnsServer(options: DnsServerOptions = {}): Promise<DnsServer> {
  return DnsServer.start(options)
}

// ---- wire format ----------------------------------------------------------------------------

interface Question {
  /** Labels as received (case kept, latin1 so every byte survives). */
  readonly labels: readonly string[]
  readonly type: number
  readonly qclass: number
}

interface ParsedQuery {
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
function parseQuery(msg: Buffer, transportLimit: number): ParsedQuery | null {
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

function buildReply(q: ParsedQuery, rcode: number, rdata: readonly Buffer[], ttl: number): Buffer {
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

function listen(target: EventEmitter, start: (cb: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    target.once('error', reject)
    start(() => {
      target.off('error', reject)
      resolve()
    })
  })
}

function normalize(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase()
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

function encodeIPv4(address: string): Buffer {
  if (!net.isIPv4(address)) throw new TypeError(`not an IPv4 address: ${address}`)
  return Buffer.from(address.split('.').map(Number))
}

function encodeIPv6(address: string): Buffer {
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

function encodeSrv(r: SrvRecord): Buffer {
  for (const [field, v] of [['port', r.port], ['priority', r.priority ?? 0], ['weight', r.weight ?? 0]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`bad SRV ${field} ${v}`)
  }
  // RFC 2782: the target is never compressed.
  return Buffer.concat([u16(r.priority ?? 0), u16(r.weight ?? 0), u16(r.port), encodeName(r.target)])
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
