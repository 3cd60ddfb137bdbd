// h2spec, the HTTP/2 conformance suite that nghttp2, h2o and Envoy run (vendored in
// test/vendor/h2spec, built by test/conformance/build-h2spec.sh), against spoke's listener and, as
// the reference, against a bare node:http2 server, in the same run and with the same h2spec. spoke's
// HTTP/2 side is Node's (nghttp2 under node:http2), so the cases a bare Node server fails, spoke
// fails too; what this test guards is that spoke adds no failure of its own: no case fails through
// spoke that does not fail on the reference. The one exception is http2/3.5/2 (an invalid
// connection preface), which spoke's HTTP/1.1 side answers by design: the port serves both
// protocols and bytes that are not the HTTP/2 preface are an HTTP/1.1 request (400, closed).
// spoke is run twice, in front of HTTP/1.1 pods and in front of h2c pods. The counts and the cases
// failing on both are in docs/conformance.md.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startGrpcCluster } from './helpers/grpc.ts'
import { startCluster } from './helpers/harness.ts'
import { exchange, statuses } from './helpers/raw.ts'

const BUILD = fileURLToPath(new URL('conformance/build-h2spec.sh', import.meta.url))
/** h2spec's per-case wait (-o, seconds): the cases both sides fail by not answering take this long each. */
const TIMEOUT_S = 2
/** Fewer passes than this on either side means h2spec ran (nearly) nothing, or against nothing. */
const MIN_PASSED = 130
/** Failing through spoke by design (see above); asserted separately below. */
const PREFACE_CASE = 'http2/3.5/2'

type Outcome = 'passed' | 'failed' | 'skipped'
interface Case {
  /** h2spec's own id: `<spec>/<section>/<n>`, as its command line takes it. */
  readonly id: string
  readonly desc: string
  readonly outcome: Outcome
  /** For a failure: what h2spec would have accepted (any of them), and what it got. */
  readonly expected: readonly string[]
  readonly actual: string
}

/** The h2spec binary, built (or found already built) by the build script; else why not. */
function buildH2spec(): Promise<{ bin: string } | { why: string }> {
  return new Promise((resolve) => {
    execFile('bash', [BUILD], { encoding: 'utf8', timeout: 150_000 }, (err, stdout, stderr) => {
      if (err === null) resolve({ bin: stdout.trim().split('\n').pop()! })
      else resolve({ why: (stderr.trim() || err.message).split('\n').slice(-3).join(' / ') })
    })
  })
}

const built = await buildH2spec()
const unavailable = 'why' in built ? `h2spec is not built: ${built.why}` : null

/** Runs every h2spec case (strict ones too) against the port and reads its JUnit report. */
async function h2spec(bin: string, port: number, dir: string, name: string): Promise<{ cases: Case[]; output: string }> {
  const report = path.join(dir, `${name}.xml`)
  const args = ['--strict', '--host', '127.0.0.1', '--port', String(port), '--timeout', String(TIMEOUT_S), '--junit-report', report]
  const output = await new Promise<string>((resolve, reject) => {
    // Exit 1 when any case failed: expected, the report tells which.
    execFile(bin, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && (err.killed || typeof err.code !== 'number' || err.code > 1)) reject(new Error(`h2spec ${name}: ${err.message}\n${stderr}`))
      else resolve(stdout + stderr)
    })
  })
  return { cases: parseJUnit(await readFile(report, 'latin1')), output }
}

/**
 * h2spec's JUnit report: one <testsuite package="http2/5.1"> per section, its <testcase>s in h2spec's
 * order, so the n-th is case n (with --strict every case runs, and the strict ones come last, as
 * h2spec numbers them). A <failure> or <error> inside is a failed case, <skipped> a skipped one.
 */
function parseJUnit(xml: string): Case[] {
  const cases: Case[] = []
  for (const suite of xml.matchAll(/<testsuite\b[^>]*\bpackage="([^"]*)"[^>]*>([\s\S]*?)<\/testsuite>/g)) {
    let n = 0
    for (const tc of suite[2].matchAll(/<testcase\b[^>]*\bclassname="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g)) {
      n++
      const body = tc[2].trim()
      const outcome: Outcome = /^<(failure|error)\b/.test(body) ? 'failed' : body.startsWith('<skipped') ? 'skipped' : 'passed'
      // The expected events one a line, then the actual one (PING payloads carry NULs).
      const lines = unescapeXml(body.replace(/<\/?(failure|error|skipped)[^>]*>/g, '')).replace(/\0/g, ' ')
        .split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== 'Expect:' && l !== 'Actual:')
      cases.push({ id: `${suite[1]}/${n}`, desc: unescapeXml(tc[1]), outcome, expected: lines.slice(0, -1), actual: lines.at(-1) ?? '' })
    }
  }
  return cases
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-f]+));/gi, (_m, name: string, dec?: string, hex?: string) => {
    if (dec !== undefined) return String.fromCodePoint(Number(dec))
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16))
    return { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' }[name.toLowerCase()]!
  })
}

/** The reference: node:http2 with its defaults, answering GET and POST as h2spec asks (200, a body, after the request's body). */
async function startReference(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http2.createServer()
  server.on('session', (session) => session.on('error', () => {}))
  server.on('stream', (stream) => {
    stream.on('error', () => {})
    stream.resume()
    stream.once('end', () => {
      if (stream.destroyed) return
      const body = 'reference\n'
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) })
      stream.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const count = (cases: readonly Case[], outcome: Outcome): number => cases.filter((c) => c.outcome === outcome).length
const summary = (cases: readonly Case[]): string =>
  `${cases.length} cases: ${count(cases, 'passed')} passed, ${count(cases, 'failed')} failed, ${count(cases, 'skipped')} skipped`

t.test('h2spec: spoke fails no case that a bare node:http2 server passes', {
  // A CI machine has it built by .ci/run; there, not having it is a failure, not a skip.
  skip: unavailable !== null && process.env.CI !== 'true' ? `${unavailable} (run test/conformance/build-h2spec.sh)` : false,
}, async (t) => {
  if ('why' in built) {
    t.fail(unavailable!)
    return
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'spoke-h2spec-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const reference = await startReference()
  t.teardown(() => reference.close())
  const http1 = await startCluster({ pods: 2 })
  t.teardown(() => http1.close())
  const h2c = await startGrpcCluster({ pods: 2 })
  t.teardown(() => h2c.close())

  // The three runs at once: most of a run is waiting out the cases neither side answers.
  const started = performance.now()
  const [ref, viaHttp1, viaH2c] = await Promise.all([
    h2spec(built.bin, reference.port, dir, 'reference'),
    h2spec(built.bin, http1.spoke.listeners[0].address!.port, dir, 'spoke-http1'),
    h2spec(built.bin, h2c.port, dir, 'spoke-h2c'),
  ])
  t.comment(`h2spec --strict, three runs in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  const failing = ref.cases.filter((c) => c.outcome === 'failed').map((c) => c.id)
  t.comment(`reference (node:http2 ${process.versions.node}, nghttp2 ${process.versions.nghttp2}): ${summary(ref.cases)}; failing: ${failing.join(' ') || 'none'}`)
  t.ok(count(ref.cases, 'passed') >= MIN_PASSED, `h2spec ran against the reference (${count(ref.cases, 'passed')} passed, at least ${MIN_PASSED})`)

  for (const [label, run] of [['spoke → http1 pods', viaHttp1], ['spoke → h2c pods', viaH2c]] as const) {
    t.comment(`${label}: ${summary(run.cases)}; failing: ${run.cases.filter((c) => c.outcome === 'failed').map((c) => c.id).join(' ') || 'none'}`)
    t.same(run.cases.map((c) => c.id), ref.cases.map((c) => c.id), `${label}: the same ${ref.cases.length} cases as the reference`)
    t.ok(count(run.cases, 'passed') >= MIN_PASSED, `${label}: ${count(run.cases, 'passed')} passed, at least ${MIN_PASSED}`)
    const onReference = new Map(ref.cases.map((c) => [c.id, c]))
    const own: string[] = []
    for (const c of run.cases) {
      if (c.id === PREFACE_CASE) continue
      const theirs = onReference.get(c.id)?.outcome
      // A case spoke fails that the reference does not (passes or skips), or one spoke skips
      // that the reference passes (coverage lost), is spoke's own.
      if ((c.outcome === 'failed' && theirs !== 'failed') || (c.outcome === 'skipped' && theirs === 'passed')) {
        own.push(`${c.id} (${c.desc}): ${c.outcome} through spoke, ${theirs} on the reference` +
          (c.outcome === 'failed' ? `; h2spec expected ${c.expected.join(' or ')}, got ${c.actual}` : ''))
      }
    }
    t.same(own, [], `${label}: no case fails through spoke that does not fail on the reference`)
    // 3.5/2: spoke's HTTP/1.1 side answers the bytes "INVALID CONNECTION PREFACE\r\n\r\n" with
    // its 400 and closes; h2spec reads the start of that answer as a frame header and reports
    // the close in the middle of that "frame" as an unexpected EOF.
    const preface = run.cases.find((c) => c.id === PREFACE_CASE)
    t.ok(preface !== undefined && (preface.outcome === 'passed' || /^(Error: unexpected EOF|Connection closed)$/.test(preface.actual)),
      `${label}: ${PREFACE_CASE} passes or fails only by the connection closing (${preface?.outcome}${preface?.actual ? `: ${preface.actual}` : ''})`)
  }

  // What 3.5/2 sees, directly: an HTTP/1.1 400 and the connection closed.
  const reply = await exchange(http1.spoke.listeners[0].address!.port, 'INVALID CONNECTION PREFACE\r\n\r\n')
  t.same(statuses(reply.text), [400], 'an invalid preface is an HTTP/1.1 request to spoke: 400')
  t.ok(reply.closed, 'and the connection is closed')
})
