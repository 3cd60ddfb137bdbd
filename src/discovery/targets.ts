// What each SRV target last resolved to, kept from one lookup to the next. A target whose own
// address query fails keeps the addresses it had (SPEC §4): a lost datagram or one overloaded
// moment of the DNS server must not take a live pod out of the set, nor fail the other targets.
// A target never resolved has nothing to keep and waits for the next lookup.

export interface TtlAddress {
  readonly address: string
  readonly ttl: number
}

export type AddressResult =
  | { readonly kind: 'found'; readonly addresses: readonly TtlAddress[] }
  | { readonly kind: 'empty' }
  | { readonly kind: 'error'; readonly error: Error }

/** How one target's query ended, once what is remembered is taken into account. */
export type TargetAddresses =
  | { readonly kind: 'found'; readonly addresses: readonly TtlAddress[] }
  /** NXDOMAIN or NODATA: the target has no address, the pod is gone. */
  | { readonly kind: 'empty' }
  /** The query failed; these are the addresses of its last answer. */
  | { readonly kind: 'kept'; readonly addresses: readonly TtlAddress[]; readonly error: Error }
  /** The query failed and the target never resolved: left out until a lookup resolves it. */
  | { readonly kind: 'failed'; readonly error: Error }

export class KnownTargets {
  #addresses = new Map<string, readonly TtlAddress[]>()

  get size(): number {
    return this.#addresses.size
  }

  /** Folds one target's result into what is known and says which addresses to use. */
  settle(host: string, result: AddressResult): TargetAddresses {
    switch (result.kind) {
      case 'found':
        this.#addresses.set(host, result.addresses)
        return result
      case 'empty':
        this.#addresses.delete(host)
        return result
      case 'error': {
        const known = this.#addresses.get(host)
        return known === undefined
          ? { kind: 'failed', error: result.error }
          : { kind: 'kept', addresses: known, error: result.error }
      }
    }
  }

  /** Targets the SRV answer no longer names are forgotten: if they come back, they are new. */
  retainOnly(hosts: ReadonlySet<string>): void {
    for (const host of this.#addresses.keys()) if (!hosts.has(host)) this.#addresses.delete(host)
  }

  clear(): void {
    this.#addresses.clear()
  }
}
