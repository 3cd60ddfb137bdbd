// The walk-through of README.md, runnable on loopback: `node examples/cache-invalidation/walkthrough.ts`.
// Three catalog replicas on 127.0.0.2-4, a DNS server answering the headless name, spoke with
// this folder's spoke.yaml (only the DNS server and the ports changed to what loopback gives).
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { validateConfig } from '../../src/config/validate.ts'
import { startDnsServer } from '../../src/demo/dns-server.ts'
import { silentLogger } from '../../src/log.ts'
import { Spoke } from '../../src/main.ts'
import { onOnePort } from '../../src/net.ts'
import { type Database, type Replica, startReplica } from './cache-service.ts'

const SERVICE = 'catalog.default.svc.cluster.local'
const KEY = 'sku-42'

export interface Envelope {
  broadcastId: string
  outcome: string
  endpoints: number
  succeeded: number
  responses: { endpoint: string; status?: number; error?: string; durationMs: number }[]
}

export interface WalkthroughResult {
  /** Each replica's cached keys after the first reads. */
  cachedBefore: string[][]
  invalidation: { status: number; envelope: Envelope }
  /** The same broadcast sent again with its id: every replica sees a duplicate. */
  repeated: { status: number; duplicates: number }
  cachedAfter: string[][]
  /** Reads after the invalidation: the new value, fetched from the database again. */
  readsAfter: { replica: string; value: string; cache: string }[]
}

export async function walkthrough(say: (line: string) => void): Promise<WalkthroughResult> {
  const db: Database = new Map([[KEY, 'price=10']])
  const dns = await startDnsServer()
  const replicas = await onOnePort(3, 2, (host, port, i) => startReplica({ name: `catalog-${i}`, host, port, db }))
  let spoke: Spoke | null = null
  try {
    dns.setA(SERVICE, replicas.map((r) => r.host), 5)
    const doc = parse(readFileSync(fileURLToPath(new URL('spoke.yaml', import.meta.url)), 'utf8'))
    doc.admin.address = '127.0.0.1:0'
    doc.dns = { servers: [`127.0.0.1:${dns.address.port}`] }
    for (const l of doc.listeners) l.address = '127.0.0.1:0'
    for (const u of doc.upstreams) u.port = replicas[0].port
    const checked = validateConfig(doc)
    if (!checked.ok) throw new Error(`spoke.yaml: ${checked.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`)
    spoke = await Spoke.start(checked.config, { log: silentLogger })
    await spoke.whenDiscovered()
    const read = `http://127.0.0.1:${spoke.listeners[0].address!.port}`
    const invalidate = `http://127.0.0.1:${spoke.listeners[1].address!.port}`
    say(`3 catalog replicas (${replicas.map((r) => r.host).join(', ')}), spoke reading on ${read.slice(7)}, invalidating on ${invalidate.slice(7)}`)

    say('')
    say(`1. The app reads ${KEY} three times through spoke: one read per replica, each caches it`)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    for (let i = 0; i < 3; i++) {
      const r = await call(`${read}/items/${KEY}`, 'GET', agent)
      say(`   GET /items/${KEY} -> ${r.status} ${r.body} from ${r.headers['x-replica']} (cache ${r.headers['x-cache']})`)
    }
    const cachedBefore = replicas.map((r) => [...r.cache.keys()])
    say(`   caches: ${describe(replicas)}`)

    say('')
    say(`2. The price changes in the database; every replica still serves the old one from its cache`)
    db.set(KEY, 'price=12')
    for (let i = 0; i < 3; i++) {
      const r = await call(`${read}/items/${KEY}`, 'GET', agent)
      say(`   GET /items/${KEY} -> ${r.status} ${r.body} from ${r.headers['x-replica']} (cache ${r.headers['x-cache']})`)
    }

    say('')
    say(`3. The app sends one DELETE /cache/${KEY} to the broadcast listener`)
    const inv = await call(`${invalidate}/cache/${KEY}`, 'DELETE', agent)
    const envelope = JSON.parse(inv.body) as Envelope
    say(`   -> HTTP ${inv.status}, outcome ${envelope.outcome}, ${envelope.succeeded} of ${envelope.endpoints} replicas`)
    for (const r of envelope.responses) say(`      ${r.endpoint.padEnd(16)} ${r.status ?? r.error}  ${r.durationMs} ms`)
    const cachedAfter = replicas.map((r) => [...r.cache.keys()])
    say(`   caches: ${describe(replicas)}`)

    say('')
    say(`4. Not sure it arrived? Send it again with the same x-spoke-broadcast-id: replicas drop the duplicate`)
    const again = await call(`${invalidate}/cache/${KEY}`, 'DELETE', agent, { 'x-spoke-broadcast-id': envelope.broadcastId })
    const seen = replicas.filter((r) => r.duplicatesDropped === 1).length
    say(`   -> HTTP ${again.status}; ${seen} replicas recognised ${envelope.broadcastId} and did nothing twice`)

    say('')
    say(`5. Reads now miss the cache and fetch the new price on every replica`)
    const readsAfter: WalkthroughResult['readsAfter'] = []
    for (let i = 0; i < 3; i++) {
      const r = await call(`${read}/items/${KEY}`, 'GET', agent)
      readsAfter.push({ replica: String(r.headers['x-replica']), value: r.body, cache: String(r.headers['x-cache']) })
      say(`   GET /items/${KEY} -> ${r.status} ${r.body} from ${r.headers['x-replica']} (cache ${r.headers['x-cache']})`)
    }
    agent.destroy()
    return { cachedBefore, invalidation: { status: inv.status, envelope }, repeated: { status: again.status, duplicates: seen }, cachedAfter, readsAfter }
  } finally {
    await spoke?.close()
    await Promise.all(replicas.map((r) => r.close()))
    await dns.close()
  }
}

function describe(replicas: readonly Replica[]): string {
  return replicas.map((r) => `${r.name} [${[...r.cache.keys()].join(', ')}]`).join('  ')
}

function call(url: string, method: string, agent: http.Agent, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  walkthrough((line) => console.log(line)).catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
