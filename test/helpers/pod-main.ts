// A pod in a process of its own, so that a fault test can SIGKILL or SIGSTOP it, or run it in a
// network namespace. POST arrivals are written to a file as they happen (a SIGKILL loses nothing
// already written), one `x-request-id` a line.
// Usage: node test/helpers/pod-main.ts <name> <host> <port> <post-log-file> [http1|h2c]
import { openSync, writeSync } from 'node:fs'
import { GrpcPod } from '../../src/demo/grpc-pod.ts'
import { Pod } from '../../src/demo/pod.ts'
import { requestId } from './load.ts'

const [name, host, port, log, protocol = 'http1'] = process.argv.slice(2)
if (log === undefined || (protocol !== 'http1' && protocol !== 'h2c')) {
  process.stderr.write('usage: node test/helpers/pod-main.ts <name> <host> <port> <post-log-file> [http1|h2c]\n')
  process.exit(2)
}
const fd = openSync(log, 'a')
const posted = (id: string | null): void => { writeSync(fd, `${id ?? '-'}\n`) }
try {
  const options = { name, host, port: Number(port) }
  const pod = protocol === 'h2c'
    ? await GrpcPod.start({ ...options, onRequest: (method, headers) => { if (method === 'POST') posted(String(headers['x-request-id'] ?? '-')) } })
    : await Pod.start({ ...options, record: false, onRequest: (r) => { if (r.method === 'POST') posted(requestId(r)) } })
  // SIGTERM as a plain Node service takes it: stop accepting, close idle keep-alive connections.
  process.on('SIGTERM', () => { pod.close().then(() => process.exit(0)) })
} catch (err) {
  process.stderr.write(`${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}\n`)
  process.exit(1)
}
process.stdout.write('ready\n')
// The test's process going away (even crashing) closes our stdin: the pod goes too.
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
