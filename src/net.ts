// Small network helpers shared by every module that names or binds an address.
import dgram from 'node:dgram'
import type { AddressInfo, Server } from 'node:net'

/** `10.0.0.1:80`, `[::1]:80`. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * Binds `server`, a TCP server or a UDP socket; a failure becomes one clear line naming what
 * failed to bind and where (SPEC §2: exit 1 "with one clear line naming the listener and
 * address"), `udp` before the address of a UDP socket.
 */
export function listenOn(server: Server | dgram.Socket, address: { host: string; port: number }, what: string): Promise<AddressInfo> {
  const { host, port } = address
  const udp = server instanceof dgram.Socket
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const error: NodeJS.ErrnoException = new Error(`${what}: cannot listen on ${udp ? 'udp ' : ''}${formatHostPort(host, port)}: ${err.code ?? err.message}`, { cause: err })
      error.code = err.code
      reject(error)
    }
    const onBound = (): void => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    }
    server.once('error', onError)
    if (server instanceof dgram.Socket) server.bind({ address: host, port }, onBound)
    else server.listen({ host, port }, onBound)
  })
}

/**
 * Starts `count` servers on 127.0.0.<first>, <first+1>, … all on one port (a headless Service's
 * A records carry none), trying another random port when one is taken on any address.
 */
export async function onOnePort<T extends { close(): Promise<void> }>(
  count: number, first: number, start: (host: string, port: number, index: number) => Promise<T>, fixedPort?: number,
): Promise<T[]> {
  for (let tries = 0; tries < 20; tries++) {
    const port = fixedPort ?? 20000 + Math.floor(Math.random() * 40000)
    const started: T[] = []
    try {
      for (let i = 0; i < count; i++) started.push(await start(`127.0.0.${first + i}`, port, i))
      return started
    } catch (err) {
      await Promise.all(started.map((s) => s.close()))
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || fixedPort !== undefined) throw err
    }
  }
  throw new Error(`no port free on all of 127.0.0.${first}–${first + count - 1}`)
}
