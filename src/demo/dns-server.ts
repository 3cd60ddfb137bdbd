// A small authoritative DNS server over UDP for tests, the demo and benchmarks. It answers A,
// AAAA and SRV from an in-memory zone and can be told to fail (SERVFAIL, REFUSED, or silence).
// It also listens on TCP at the same port, because c-ares sends no EDNS and so retries over TCP
// any answer that does not fit 512 bytes (about eight SRV records).
import dgram from 'node:dgram'
import { EventEmitter } from 'node:events'
import net from 'node:net'
import {
  buildReply, CLASS_IN, type DnsRecordType, encodeIPv4, encodeIPv6, encodeSrv, type ParsedQuery, parseQuery,
  PLAIN_UDP_LIMIT, RCODE, type SrvRecord, TCP_LIMIT, TYPE_NAMES, u16,
} from './dns-wire.ts'

export type { DnsRecordType, SrvRecord } from './dns-wire.ts'
export type DnsBehaviour = 'normal' | 'servfail' | 'refused' | 'drop'

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
