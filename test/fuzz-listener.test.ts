// A bounded, seeded fuzz run at the listener: random bytes, byte soup made of HTTP's own tokens,
// valid requests, valid requests mutated, and HTTP/2 frame sequences mutated. Each input goes on a
// connection of its own. Properties: spoke never crashes or hangs (every connection is closed or
// answered in time, and a probe keeps being served), and every request that reaches a pod is one
// that an independent strict HTTP/1.1 parser (helpers/http1-reference.ts) accepts from the bytes
// the client sent, with the same method, path and body.
//
// Reproduce a run: SPOKE_FUZZ_SEED=<seed> [SPOKE_FUZZ_INPUTS=<n>] npx tap test/fuzz-listener.test.ts
// (SPOKE_FUZZ_DUMP=<file> writes every input and what spoke answered).
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import t from 'tap'
import { type PodRequest } from '../src/demo/pod.ts'
import { request, startCluster, waitFor } from './helpers/harness.ts'
import * as h2 from './helpers/h2-frames.ts'
import { parseRequests, type ReferenceParse } from './helpers/http1-reference.ts'
import { Rng } from './helpers/rng.ts'

const SEED = Number(process.env.SPOKE_FUZZ_SEED ?? 0x5eed) >>> 0
const INPUTS = Number(process.env.SPOKE_FUZZ_INPUTS ?? 2000)
/** Share of the inputs that are HTTP/2 (after the preface); the rest are HTTP/1.1. */
const H2_SHARE = 0.15
const LANES = 8
/** Every input's connection must be closed by spoke within this (the listener's timeouts are short). */
const HANG_MS = 3000

// ---- HTTP/1.1 inputs (latin1 strings: one character per byte)

const SOUP = ['GET', 'POST', ' ', '  ', '/', '/echo', '?', '#', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', '\r\n', '\r\n\r\n', '\n', '\r', '\t', ':', ': ',
  'Host', 'a', 'Content-Length', 'Transfer-Encoding', 'chunked', 'Connection', 'close', 'Upgrade', '0', '5', 'ff', ';', ',', '"', '\x00', '\x0b', '\xff']

const EXTRA_HEADERS = ['Accept: */*', 'User-Agent: fuzz/1.0', 'Cache-Control: no-cache', 'Content-Type: text/plain', 'Connection: keep-alive', 'Accept-Encoding: gzip, br', 'X-Empty:']

const HOSTILE_LINES = ['Transfer-Encoding: chunked', 'Content-Length: 5', 'Content-Length: 0', 'Transfer-Encoding: gzip, chunked', 'Host: b', 'Connection: close',
  'Expect: 100-continue', 'Content-Length: -1', ' X-Folded: y', 'Transfer-Encoding : chunked', 'Content-Length: 1, 2', 'X-Nul: a\x00b']

const SPECIALS = ['\r', '\n', '\r\n', ' ', '\t', '\x00', ':', ';', ',', '"', '\x0b', '\x7f', '\xff', '0', 'f', '#', '@', '/']

function validRequest(r: Rng, id: string, last: boolean): string {
  const version = r.chance(0.1) ? 'HTTP/1.0' : 'HTTP/1.1'
  const method = r.pick(['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'])
  const path = `${r.pick(['/echo', '/', '/status/204', '/echo/x'])}?fz=${id}&q=${r.printable(8).replace(/[#%]/g, '_')}`
  const target = r.chance(0.05) ? `http://svc.local${path}` : path
  const lines = [`${method} ${target} ${version}`]
  if (version === 'HTTP/1.1' || r.chance(0.5)) lines.push(`Host: ${r.pick(['a', 'svc.local:8080', '127.0.0.1:15001', '[::1]:80'])}`)
  lines.push(`X-Fz: ${id}`)
  for (let n = r.int(4); n > 0; n--) lines.push(r.chance(0.7) ? r.pick(EXTRA_HEADERS) : `X-R${r.int(100)}: ${r.printable(20)}`)
  if (version === 'HTTP/1.0' && r.chance(0.5)) lines.push('Connection: keep-alive')
  if (last && r.chance(0.1)) lines.push('Connection: close')
  const wantsBody = ['POST', 'PUT', 'PATCH'].includes(method) ? r.chance(0.9) : r.chance(0.1)
  let body = ''
  if (wantsBody) {
    const content = r.chance(0.8) ? r.printable(200) : r.bytes(200)
    if (version === 'HTTP/1.1' && r.chance(0.35)) {
      lines.push('Transfer-Encoding: chunked')
      let rest = content
      while (rest.length > 0) {
        const n = 1 + r.int(rest.length)
        body += `${n.toString(16)}${r.chance(0.1) ? ';ext=v' : ''}\r\n${rest.slice(0, n)}\r\n`
        rest = rest.slice(n)
      }
      body += `0\r\n${r.chance(0.1) ? 'X-Trailer: t\r\n' : ''}\r\n`
    } else {
      lines.push(`Content-Length: ${content.length}`)
      body = content
    }
  }
  return `${lines.join('\r\n')}\r\n\r\n${body}`
}

function mutate(r: Rng, s: string): string {
  const at = (): number => r.int(s.length + 1)
  switch (r.int(12)) {
    case 0: { const i = at(); return s.slice(0, i) + String.fromCharCode(r.int(256)) + s.slice(i + 1) }
    case 1: { const i = at(); return s.slice(0, i) + String.fromCharCode(r.int(256)) + s.slice(i) }
    case 2: { const i = at(); return s.slice(0, i) + r.pick(SPECIALS) + s.slice(i) }
    case 3: { const i = at(); return s.slice(0, i) + s.slice(i + 1 + r.int(10)) }
    case 4: { const i = at(); const j = i + 1 + r.int(20); return s.slice(0, j) + s.slice(i, j) + s.slice(j) }
    case 5: case 6: {
      const lines = s.split('\r\n')
      const i = r.int(lines.length)
      if (r.int(2) === 0) lines.splice(i, 0, lines[i])
      else lines.splice(i, 1)
      return lines.join('\r\n')
    }
    case 7: {
      const positions = [...s.matchAll(/\r\n/g)].map((m) => m.index)
      if (positions.length === 0) return s
      const i = r.pick(positions)
      return s.slice(0, i) + s.slice(i + 1)
    }
    case 8: { const i = s.indexOf('\r\n'); return i < 0 ? s : `${s.slice(0, i + 2)}${r.pick(HOSTILE_LINES)}\r\n${s.slice(i + 2)}` }
    case 9: {
      const digits = [...s.matchAll(/[0-9a-f]/g)].map((m) => m.index)
      if (digits.length === 0) return s
      const i = r.pick(digits)
      return s.slice(0, i) + r.pick([...'0123456789abcdef']) + s.slice(i + 1)
    }
    case 10: return s.slice(0, at())
    default: {
      const letters = [...s.matchAll(/[A-Za-z]/g)].map((m) => m.index)
      if (letters.length === 0) return s
      const i = r.pick(letters)
      const c = s[i]
      return s.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + s.slice(i + 1)
    }
  }
}

type Kind = 'random bytes' | 'token soup' | 'valid' | 'mutated' | 'HTTP/2 mutated'

function http1Input(r: Rng, id: string): { kind: Kind; bytes: Buffer } {
  const roll = r.next()
  let kind: Kind
  let text: string
  if (roll < 0.08) {
    kind = 'random bytes'
    text = r.bytes(400)
  } else if (roll < 0.16) {
    kind = 'token soup'
    text = ''
    for (let n = 1 + r.int(40); n > 0; n--) text += r.pick(SOUP)
  } else {
    const count = 1 + (r.chance(0.2) ? r.int(3) : 0)
    text = ''
    for (let i = 0; i < count; i++) text += validRequest(r, `${id}-${i}`, i === count - 1)
    if (roll < 0.3) kind = 'valid'
    else {
      kind = 'mutated'
      for (let n = 1 + r.int(4); n > 0; n--) text = mutate(r, text)
    }
  }
  return { kind, bytes: Buffer.from(text, 'latin1') }
}

// ---- HTTP/2 inputs: a valid exchange's frames after the preface, then mutated

function http2Input(r: Rng, id: string): Buffer {
  const frames: Buffer[] = [h2.settings(r.chance(0.5) ? [[h2.SETTING.INITIAL_WINDOW_SIZE, 65535]] : []), h2.settingsAck()]
  for (let stream = 1, n = 1 + r.int(3); n > 0; n--, stream += 2) {
    const post = r.chance(0.4)
    const block = h2.requestBlock(`/echo?fz=${id}-${stream}`, r.chance(0.5) ? [['x-fz', id]] : [], post ? 'POST' : 'GET')
    frames.push(h2.headers(stream, block, h2.FLAG.END_HEADERS | (post ? 0 : h2.FLAG.END_STREAM)))
    if (post) frames.push(h2.data(stream, Buffer.from(r.printable(100), 'latin1'), h2.FLAG.END_STREAM))
    if (r.chance(0.2)) frames.push(r.pick([h2.ping(), h2.windowUpdate(0, 1 + r.int(65535)), h2.rstStream(stream), h2.frame(r.int(12), r.int(256), r.int(8), Buffer.from(r.bytes(30), 'latin1'))]))
  }
  let body = Buffer.concat(frames).toString('latin1')
  for (let n = 1 + r.int(4); n > 0; n--) {
    const i = r.int(body.length + 1)
    switch (r.int(4)) {
      case 0: body = body.slice(0, i) + String.fromCharCode(r.int(256)) + body.slice(i + 1); break
      case 1: body = body.slice(0, i) + String.fromCharCode(r.int(256)) + body.slice(i); break
      case 2: body = body.slice(0, i) + body.slice(i + 1 + r.int(8)); break
      default: body = body.slice(0, i)
    }
  }
  return Buffer.concat([h2.PREFACE, Buffer.from(body, 'latin1')])
}

// ---- running an input

interface Outcome {
  readonly closed: boolean
  /** The first 600 bytes spoke sent back. */
  readonly reply: string
  readonly start: number
  readonly end: number
}

function send(port: number, bytes: Buffer, halfClose: boolean): Promise<Outcome> {
  const start = performance.now()
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
      if (halfClose) socket.end(bytes)
      else socket.write(bytes)
    })
    let reply = ''
    const finish = (closed: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ closed, reply, start, end: performance.now() })
    }
    const timer = setTimeout(() => finish(false), HANG_MS)
    socket.on('data', (c: Buffer) => { if (reply.length < 600) reply += c.toString('latin1').slice(0, 600 - reply.length) })
    socket.on('error', () => {})
    socket.on('close', () => finish(true))
  })
}

interface Input {
  readonly id: string
  readonly kind: Kind
  readonly bytes: Buffer
  readonly reference: ReferenceParse | null
  outcome?: Outcome
}

t.test(`fuzzing the listener: ${INPUTS} inputs, seed ${SEED}`, async (t) => {
  t.comment(`seed ${SEED} (reproduce: SPOKE_FUZZ_SEED=${SEED} SPOKE_FUZZ_INPUTS=${INPUTS} npx tap test/fuzz-listener.test.ts)`)
  const cluster = await startCluster({
    pods: 2,
    // Short timeouts so that every input ends quickly: a head that never completes, an idle
    // keep-alive connection, a body that never arrives.
    listener: { headersTimeout: '300ms', idleTimeout: '500ms' },
    upstream: { timeouts: { request: '500ms' }, retries: { attempts: 0 } },
  })
  t.teardown(() => cluster.close())
  const port = cluster.spoke.listeners[0].address!.port
  const r = new Rng(SEED)
  const inputs: Input[] = []
  for (let i = 0; i < INPUTS; i++) {
    const id = `${SEED.toString(36)}x${i.toString(36)}`
    if (i >= INPUTS * (1 - H2_SHARE)) inputs.push({ id, kind: 'HTTP/2 mutated', bytes: http2Input(r, id), reference: null })
    else {
      const input = http1Input(r, id)
      inputs.push({ id, ...input, reference: parseRequests(input.bytes) })
    }
  }
  const halfClose = inputs.map(() => r.chance(0.95))

  // A probe on a fresh connection every 250 ms: spoke must keep serving throughout.
  let fuzzing = true
  const probes: number[] = []
  const prober = (async () => {
    for (let n = 0; fuzzing; n++) {
      probes.push(await Promise.race([
        request(`${cluster.url}/?probe=${n}`).then((a) => a.status, () => 0),
        new Promise<number>((resolve) => setTimeout(() => resolve(-1), 2000)),
      ]))
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  })()
  const started = performance.now()
  // HTTP/1.1 inputs first, then HTTP/2: the two judgements never share a time window.
  const quiet = (): Promise<void> => waitFor(() => cluster.pods.every((p) => p.started === p.requests + p.aborted), 10_000, 'the pods to finish every request')
  let h2Start = 0
  for (const phase of [inputs.filter((x) => x.reference !== null), inputs.filter((x) => x.reference === null)]) {
    let next = 0
    await Promise.all(Array.from({ length: LANES }, async () => {
      while (next < phase.length) {
        const input = phase[next++]
        input.outcome = await send(port, input.bytes, halfClose[inputs.indexOf(input)])
      }
    }))
    // Every HTTP/1.1 request a pod will ever complete is complete before the HTTP/2 phase begins.
    await quiet()
    h2Start ||= performance.now()
  }
  fuzzing = false
  await prober
  const elapsed = performance.now() - started

  // Each request a pod completed during the HTTP/1.1 phase must be one the reference parser
  // accepted from some input, with the same method, path and body. Paths carry the input's unique
  // id, so a request can only match one that came from its own bytes.
  const received: PodRequest[] = cluster.pods.flatMap((p) => p.received).filter((q) => !q.url.startsWith('/?probe=')).sort((a, b) => a.at - b.at)
  const unmatched = inputs.flatMap((x) => x.reference?.requests ?? [])
  const violations: string[] = []
  let forwardedH1 = 0
  let forwardedH2 = 0
  for (const q of received) {
    const k = unmatched.findIndex((c) => c.method === q.method && c.path === q.url && c.body.equals(q.body))
    if (k >= 0) {
      unmatched.splice(k, 1)
      forwardedH1++
    } else if (q.at >= h2Start) {
      // HTTP/2: nghttp2 parsed it; there is no independent reference to hold it against.
      forwardedH2++
    } else {
      const id = /fz=([0-9a-z]+x[0-9a-z]+)/.exec(q.url)?.[1]
      const source = inputs.find((x) => x.id === id)
      violations.push(`${q.method} ${JSON.stringify(q.url)} body ${JSON.stringify(q.body.toString('latin1').slice(0, 40))}` +
        (source === undefined ? '' : ` from ${source.id} ${JSON.stringify(source.bytes.toString('latin1').slice(0, 600))} (reference: ${source.reference?.end} ${source.reference?.reason ?? ''})`))
    }
  }

  const hangs = inputs.filter((x) => x.outcome?.closed !== true)
  // SPOKE_FUZZ_DUMP=<file>: every input, its reference reading and spoke's reply, for a closer look.
  if (process.env.SPOKE_FUZZ_DUMP !== undefined) {
    writeFileSync(process.env.SPOKE_FUZZ_DUMP, JSON.stringify({
      violations,
      inputs: inputs.map((x) => ({
        id: x.id, kind: x.kind, bytes: x.bytes.toString('latin1'), reference: x.reference === null ? null : { end: x.reference.end, reason: x.reference.reason, requests: x.reference.requests.length }, outcome: x.outcome,
      })),
    }, null, 1))
  }
  const byKind = new Map<string, number>()
  const byAnswer = new Map<string, number>()
  for (const x of inputs) {
    byKind.set(x.kind, (byKind.get(x.kind) ?? 0) + 1)
    const answer = /^HTTP\/1\.1 (\d{3})/.exec(x.outcome!.reply)?.[1] ?? (x.outcome!.reply === '' ? 'no answer' : x.reference === null ? 'HTTP/2 frames' : 'other')
    byAnswer.set(answer, (byAnswer.get(answer) ?? 0) + 1)
  }
  const acceptedByReference = inputs.reduce((n, x) => n + (x.reference?.requests.length ?? 0), 0)
  t.comment(`${INPUTS} inputs in ${(elapsed / 1000).toFixed(1)} s: ${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')}`)
  t.comment(`first answer per input: ${[...byAnswer].sort().map(([k, n]) => `${k} ×${n}`).join(', ')}`)
  t.comment(`reference-valid HTTP/1.1 requests sent: ${acceptedByReference}; reached a pod: ${forwardedH1} (all reference-valid); HTTP/2 requests that reached a pod: ${forwardedH2}`)
  t.same(violations, [], 'every request that reached a pod was valid by the reference parser, with its method, path and body')
  t.same(hangs.map((x) => `${x.id} ${x.kind} ${JSON.stringify(x.bytes.toString('latin1').slice(0, 200))}`), [], `every connection closed within ${HANG_MS} ms`)
  t.ok(probes.length > 0 && probes.every((s) => s === 200), `all ${probes.length} probes during the run answered 200`)
  t.equal((await request(`${cluster.url}/`)).status, 200, 'spoke serves after the run')
  t.ok(forwardedH1 > 100, 'the run did forward valid requests (the generator is not all noise)')
})
