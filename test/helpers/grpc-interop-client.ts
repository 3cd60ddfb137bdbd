// Runs official grpc-node interop cases one after another in one process, each exactly as
// interop_client.js's command line runs it (runTest: a new client for the case; a failed
// assertion throws and ends the process). Prints `start <case>` and `ok <case>` for the test to
// follow. Usage: node grpc-interop-client.ts <host:port> <case>...
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const interop = require('../vendor/grpc-node/test/interop/interop_client.js') as {
  runTest(address: string, hostOverride: string | undefined, testCase: string, tls: boolean, testCa: boolean, done: (err?: Error) => void, extra: object): void
}
const [address, ...cases] = process.argv.slice(2)
for (const testCase of cases) {
  console.log(`start ${testCase}`)
  await new Promise<void>((resolve, reject) => {
    interop.runTest(address, undefined, testCase, false, false, (err) => (err ? reject(err) : resolve()), {})
  })
  console.log(`ok ${testCase}`)
}
