// "catalog": a service that caches item lookups in memory, one cache per replica. The database
// every replica reads from is a shared Map here (it stands in for Postgres or similar).
//
//   GET    /items/<key>   the item, from this replica's cache when it has it (x-cache: hit|miss)
//   DELETE /cache/<key>   drops the key from this replica's cache (204)
//   GET    /cache         the keys this replica has cached, as JSON
//
// An invalidation that arrives twice (the app retried its broadcast with the same
// x-spoke-broadcast-id) is recognised and answered without doing anything twice.
import http from 'node:http'

export type Database = Map<string, string>

export interface Replica {
  readonly name: string
  readonly host: string
  readonly port: number
  readonly cache: ReadonlyMap<string, string>
  /** Broadcast ids this replica has acted on. */
  readonly seenBroadcasts: ReadonlySet<string>
  /** Invalidations recognised as repeats and not acted on again. */
  readonly duplicatesDropped: number
  close(): Promise<void>
}

export function startReplica(options: { name: string; host: string; port: number; db: Database }): Promise<Replica> {
  const cache = new Map<string, string>()
  const seen = new Set<string>()
  let duplicates = 0
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://replica')
      const send = (status: number, body: string, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'text/plain', 'x-replica': options.name, ...headers })
        res.end(body)
      }
      const item = /^\/items\/([^/]+)$/.exec(url.pathname)
      if (item !== null && req.method === 'GET') {
        const key = decodeURIComponent(item[1])
        const cached = cache.get(key)
        if (cached !== undefined) return send(200, cached, { 'x-cache': 'hit' })
        const value = options.db.get(key)
        if (value === undefined) return send(404, 'no such item\n')
        cache.set(key, value)
        return send(200, value, { 'x-cache': 'miss' })
      }
      const drop = /^\/cache\/([^/]+)$/.exec(url.pathname)
      if (drop !== null && req.method === 'DELETE') {
        const id = req.headers['x-spoke-broadcast-id']
        if (typeof id === 'string') {
          if (seen.has(id)) {
            duplicates++
            return send(204, '', { 'x-duplicate': 'true' })
          }
          seen.add(id)
        }
        cache.delete(decodeURIComponent(drop[1]))
        return send(204, '')
      }
      if (url.pathname === '/cache' && req.method === 'GET') {
        return send(200, JSON.stringify([...cache.keys()]), { 'content-type': 'application/json' })
      }
      send(404, 'not found\n')
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => resolve({
      name: options.name, host: options.host, port: options.port, cache, seenBroadcasts: seen,
      get duplicatesDropped() { return duplicates },
      close: () => new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      }),
    }))
  })
}
