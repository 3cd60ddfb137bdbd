// The benchmark's DNS: the real demo DNS server on 127.0.0.1 answering the headless name's A
// records with the pods' addresses. Prints its port on one line, then serves until SIGTERM.
// Usage: node bench/dns.ts <name> <ip>...
import { startDnsServer } from '../src/demo/dns-server.ts'

const [name, ...addresses] = process.argv.slice(2)
if (name === undefined || addresses.length === 0) {
  process.stderr.write('usage: node bench/dns.ts <name> <ip>...\n')
  process.exit(2)
}

const dns = await startDnsServer({ host: '127.0.0.1' })
dns.setA(name, addresses, 30)
process.stdout.write(`${dns.address.port}\n`)

const stop = (): void => { dns.close().then(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
