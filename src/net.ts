// Small network helpers shared by every module that names or binds an address.
import type { AddressInfo, Server } from 'node:net'

/** `10.0.0.1:80`, `[::1]:80`. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * Binds `server`; a failure becomes one clear line naming what failed to bind and where
 * (SPEC §2: exit 1 "with one clear line naming the listener and address").
 */
export function listenOn(server: Server, address: { host: string; port: number }, what: string): Promise<AddressInfo> {
  const { host, port } = address
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new Error(`${what}: cannot listen on ${formatHostPort(host, port)}: ${err.code ?? err.message}`))
    }
    server.once('error', onError)
    server.listen({ host, port }, () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    })
  })
}
