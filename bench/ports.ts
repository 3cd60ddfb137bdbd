// Prints `count` distinct TCP ports, each free on every given host, one a line.
// Usage: node bench/ports.ts <count> <host>...
import net from 'node:net'

const [countArg, ...hosts] = process.argv.slice(2)
const count = Number(countArg)
if (!Number.isInteger(count) || count < 1 || hosts.length === 0) {
  process.stderr.write('usage: node bench/ports.ts <count> <host>...\n')
  process.exit(2)
}

function bind(host: string, port: number): Promise<net.Server | null> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(null))
    server.listen({ host, port, exclusive: true }, () => resolve(server))
  })
}

const close = (s: net.Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()))

const ports: number[] = []
for (let attempt = 0; ports.length < count && attempt < 100; attempt++) {
  const first = await bind(hosts[0], 0)
  if (first === null) continue
  const port = (first.address() as net.AddressInfo).port
  const rest = await Promise.all(hosts.slice(1).map((h) => bind(h, port)))
  await Promise.all([first, ...rest].filter((s) => s !== null).map(close))
  if (rest.every((s) => s !== null) && !ports.includes(port)) ports.push(port)
}
if (ports.length < count) {
  process.stderr.write(`could not find ${count} free ports on ${hosts.join(', ')}\n`)
  process.exit(1)
}
process.stdout.write(ports.join('\n') + '\n')
