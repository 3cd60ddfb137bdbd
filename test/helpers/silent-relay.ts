// A TCP relay on a loopback address of its own in front of a real pod, that can go silent: from
// then on every byte either way is swallowed and nothing is closed (no FIN, no reset), which is
// what spoke sees of a pod whose node or network died. The relay's kernel still answers TCP
// (keepalive probes included), so only a probe at the HTTP level can tell: an HTTP/2 PING.
import net from 'node:net'
import { listenOn } from '../../src/net.ts'

export class SilentRelay {
  readonly host: string
  readonly port: number
  /** Connections accepted (from spoke). */
  connections = 0
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  #silent = false

  private constructor(host: string, port: number, target: { host: string; port: number }) {
    this.host = host
    this.port = port
    this.#server = net.createServer((client) => {
      this.connections++
      this.#track(client)
      // Silent: the handshake completes (the kernel's doing), nothing more ever happens.
      if (this.#silent) return
      const pod = net.connect(target)
      this.#track(pod)
      this.#forward(client, pod)
      this.#forward(pod, client)
    })
  }

  static async start(host: string, port: number, target: { host: string; port: number }): Promise<SilentRelay> {
    const relay = new SilentRelay(host, port, target)
    await listenOn(relay.#server, { host, port }, `relay ${host}`)
    return relay
  }

  /** Both directions swallow everything from now on; no connection is closed. */
  silence(): void {
    this.#silent = true
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  #track(socket: net.Socket): void {
    this.#sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => this.#sockets.delete(socket))
  }

  /** Bytes are read either way (no back-pressure reaches the sender), and dropped once silent. */
  #forward(from: net.Socket, to: net.Socket): void {
    from.on('data', (chunk: Buffer) => { if (!this.#silent) to.write(chunk) })
    from.on('end', () => { if (!this.#silent) to.end() })
    from.on('close', () => { if (!this.#silent) to.destroy() })
  }
}
