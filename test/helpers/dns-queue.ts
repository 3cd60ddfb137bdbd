// A relay in front of a DNS server that holds at most `depth` UDP queries at once and silently
// drops any beyond: what a burst meets at a busy server's socket buffer, or at conntrack on the
// way to CoreDNS. It counts what it saw, so a test can tell how many queries a client kept in
// flight. TCP (the fallback for large answers) is passed through unlimited.
import dgram from 'node:dgram'
import net from 'node:net'

export interface DnsQueue {
  readonly port: number
  /** Most UDP queries outstanding (relayed, not yet answered) at one moment. */
  readonly peak: number
  /** UDP queries dropped for finding the queue full. */
  readonly dropped: number
  /** UDP queries relayed. */
  readonly relayed: number
  /** TCP connections passed through. */
  readonly tcpConnections: number
  close(): Promise<void>
}

// An answer the server never sends must not hold its place for ever.
const FORGET_MS = 3000

export async function startDnsQueue(server: { host: string; port: number }, depth: number): Promise<DnsQueue> {
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()))
    const tcp = net.createServer()
    const bound = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false))
      tcp.listen(udp.address().port, '127.0.0.1', () => resolve(true))
    })
    if (bound) return relay(udp, tcp, server, depth)
    udp.close()
    if (attempt >= 10) throw new Error('no port free for both UDP and TCP')
  }
}

function relay(udp: dgram.Socket, tcp: net.Server, server: { host: string; port: number }, depth: number): DnsQueue {
  const stats = { peak: 0, dropped: 0, relayed: 0, tcpConnections: 0 }
  /** One socket towards the server per client socket, so their query ids cannot collide. */
  const upstreams = new Map<string, dgram.Socket>()
  /** `client/id` of each query relayed and not yet answered. */
  const outstanding = new Map<string, NodeJS.Timeout>()
  const sockets = new Set<net.Socket>()

  udp.on('message', (msg, client) => {
    if (msg.length < 12) return
    const clientKey = `${client.address}:${client.port}`
    const key = `${clientKey}/${msg.readUInt16BE(0)}`
    // A retransmission of a query still outstanding takes no new place.
    if (!outstanding.has(key)) {
      if (outstanding.size >= depth) {
        stats.dropped++
        return
      }
      const timer = setTimeout(() => outstanding.delete(key), FORGET_MS)
      timer.unref()
      outstanding.set(key, timer)
      stats.peak = Math.max(stats.peak, outstanding.size)
    }
    stats.relayed++
    let upstream = upstreams.get(clientKey)
    if (upstream === undefined) {
      const socket = dgram.createSocket('udp4')
      socket.on('error', () => {})
      socket.on('message', (answer) => {
        if (answer.length < 12) return
        const done = `${clientKey}/${answer.readUInt16BE(0)}`
        clearTimeout(outstanding.get(done))
        outstanding.delete(done)
        udp.send(answer, client.port, client.address, () => {})
      })
      upstreams.set(clientKey, socket)
      upstream = socket
    }
    upstream.send(msg, server.port, server.host, () => {})
  })
  udp.on('error', () => {})

  tcp.on('connection', (conn) => {
    stats.tcpConnections++
    const out = net.connect(server.port, server.host)
    for (const s of [conn, out]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        conn.destroy()
        out.destroy()
      })
    }
    conn.pipe(out)
    out.pipe(conn)
  })

  return {
    port: udp.address().port,
    get peak() { return stats.peak },
    get dropped() { return stats.dropped },
    get relayed() { return stats.relayed },
    get tcpConnections() { return stats.tcpConnections },
    async close() {
      for (const timer of outstanding.values()) clearTimeout(timer)
      for (const s of sockets) s.destroy()
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
        ...[...upstreams.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      ])
    },
  }
}
