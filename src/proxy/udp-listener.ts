// A UDP port on 127.0.0.1 whose datagrams spoke sends on, unchanged, to every pod of a
// broadcast upstream (SPEC §6). It never answers: UDP fan-out is fire-and-forget, and a pod
// that is down loses the datagram as it would without spoke.
import dgram from 'node:dgram'
import type { AddressInfo } from 'node:net'
import { isIPv6 } from 'node:net'
import type { ListenerConfig } from '../config/types.ts'
import type { Logger } from '../log.ts'
import { listenOn } from '../net.ts'
import type { Upstream } from '../upstream/upstream.ts'

/** The largest UDP payload over IPv4 (65 535 − 8 UDP − 20 IP header bytes). */
export const MAX_DATAGRAM = 65_507

export interface UdpCounts {
  /** Datagrams received from the app (spoke_udp_datagrams_total). */
  datagrams: number
  /** Received while the upstream had no pods: sent nowhere. */
  dropped: number
  /** Copies the kernel refused to send (one per pod and datagram). */
  sendErrors: number
}

export class UdpListener {
  name: string
  config: ListenerConfig
  upstream: Upstream
  readonly udp: UdpCounts = { datagrams: 0, dropped: 0, sendErrors: 0 }
  readonly #socket: dgram.Socket
  /**
   * Copies leave from unbound sockets, one per address family: the listening socket is bound to
   * loopback and could not reach a pod's address.
   */
  #senders: { udp4: dgram.Socket | null; udp6: dgram.Socket | null } = { udp4: null, udp6: null }
  #closed = false
  #whenClosed: Promise<void>
  #resolveClosed!: () => void
  #log: Logger
  readonly #onSent = (err: Error | null): void => {
    if (err !== null) {
      this.udp.sendErrors++
      this.#log.debug('udp send failed', { listener: this.name, error: err.message })
    }
  }

  constructor(config: ListenerConfig, upstream: Upstream, log: Logger) {
    this.name = config.name
    this.config = config
    this.upstream = upstream
    this.#log = log
    this.#socket = dgram.createSocket({ type: isIPv6(config.address.host) ? 'udp6' : 'udp4' })
    this.#socket.on('message', (msg) => this.#fanOut(msg))
    // A receive error (ICMP noise on some kernels) must not end the listener.
    this.#socket.on('error', (err) => this.#log.warn('udp listener error', { listener: this.name, error: err.message }))
    this.#whenClosed = new Promise((resolve) => { this.#resolveClosed = resolve })
    this.#socket.once('close', () => this.#resolveClosed())
  }

  /** A reload kept this listener's address: datagrams from now on go to `upstream`'s pods. */
  retarget(config: ListenerConfig, upstream: Upstream): void {
    this.name = config.name
    this.config = config
    this.upstream = upstream
  }

  listen(): Promise<AddressInfo> {
    return listenOn(this.#socket, this.config.address, `listener ${this.name}`)
  }

  get address(): AddressInfo | null {
    try {
      return this.#socket.address()
    } catch {
      return null
    }
  }

  /** Datagrams have no in-flight state to drain: stopping is closing. */
  stopAccepting(): void {
    if (this.#closed) return
    this.#closed = true
    try {
      this.#socket.close()
    } catch {
      // Never bound (a failed start): nothing to wait for.
      this.#resolveClosed()
    }
    for (const s of [this.#senders.udp4, this.#senders.udp6]) s?.close()
  }

  closed(): Promise<void> {
    return this.#whenClosed
  }

  closeAllConnections(): void {
    this.stopAccepting()
  }

  #fanOut(msg: Buffer): void {
    this.udp.datagrams++
    let sent = 0
    for (const endpoint of this.upstream.endpoints) {
      const family = endpoint.address.includes(':') ? 'udp6' : 'udp4'
      const sender = this.#senders[family] ??= this.#sender(family)
      endpoint.requests++
      sent++
      sender.send(msg, endpoint.port, endpoint.address, this.#onSent)
    }
    if (sent === 0) this.udp.dropped++
  }

  #sender(type: 'udp4' | 'udp6'): dgram.Socket {
    const socket = dgram.createSocket({ type })
    // Unconnected sends report nothing from the pods' side; local errors come to the callback.
    socket.on('error', (err) => this.#log.warn('udp sender error', { listener: this.name, error: err.message }))
    socket.unref()
    return socket
  }
}
