// What a reload changes (SPEC §10), decided from the running and the new configuration alone:
// which listeners keep their socket, which bind, which drain; which upstreams keep their pods and
// connections and which are replaced. main.ts applies the plan.
import type { Config, ListenerConfig, UpstreamConfig } from '../config/types.ts'

export interface ReloadPlan {
  /** Listeners whose address is unchanged: socket and app connections stay, settings and upstream may change. */
  readonly kept: readonly { readonly from: ListenerConfig; readonly to: ListenerConfig }[]
  readonly added: readonly ListenerConfig[]
  readonly removed: readonly ListenerConfig[]
  /** Upstreams that need new pods and connections (service, port, portName, protocol or mode changed), by name. */
  readonly replaced: ReadonlySet<string>
  /** Upstreams kept with other settings (or unchanged): updated in place. */
  readonly updated: ReadonlySet<string>
  readonly upstreamsAdded: ReadonlySet<string>
  readonly upstreamsRemoved: ReadonlySet<string>
  readonly adminMoved: boolean
}

export function planReload(running: Config, next: Config): ReloadPlan {
  const before = new Map(running.listeners.map((l) => [socketKey(l), l]))
  const kept: { from: ListenerConfig; to: ListenerConfig }[] = []
  const added: ListenerConfig[] = []
  for (const l of next.listeners) {
    const from = before.get(socketKey(l))
    if (from === undefined) {
      added.push(l)
    } else {
      kept.push({ from, to: l })
      before.delete(socketKey(l))
    }
  }
  const old = new Map(running.upstreams.map((u) => [u.name, u]))
  const replaced = new Set<string>()
  const updated = new Set<string>()
  const upstreamsAdded = new Set<string>()
  for (const u of next.upstreams) {
    const o = old.get(u.name)
    if (o === undefined) upstreamsAdded.add(u.name)
    else if (needsNewPods(o, u)) replaced.add(u.name)
    else updated.add(u.name)
  }
  const names = new Set(next.upstreams.map((u) => u.name))
  const a = running.admin.address
  const b = next.admin.address
  return {
    kept,
    added,
    removed: [...before.values()],
    replaced,
    updated,
    upstreamsAdded,
    upstreamsRemoved: new Set(running.upstreams.filter((u) => !names.has(u.name)).map((u) => u.name)),
    adminMoved: a.host !== b.host || a.port !== b.port,
  }
}

/** What the log says a reload changed; null when it changed nothing at all. */
export function describePlan(plan: ReloadPlan, running: Config, next: Config): Record<string, unknown> | null {
  const changedUpstreams = [...plan.updated].filter((name) => !sameJson(running.upstreams.find((u) => u.name === name), next.upstreams.find((u) => u.name === name)))
  const changedListeners = plan.kept.filter(({ from, to }) => !sameJson(from, to)).map(({ to }) => to.name)
  const summary: Record<string, unknown> = {}
  const put = (key: string, items: Iterable<string>): void => {
    const list = [...items]
    if (list.length > 0) summary[key] = list
  }
  put('listenersAdded', plan.added.map((l) => l.name))
  put('listenersRemoved', plan.removed.map((l) => l.name))
  put('listenersChanged', changedListeners)
  put('upstreamsAdded', plan.upstreamsAdded)
  put('upstreamsRemoved', plan.upstreamsRemoved)
  put('upstreamsReplaced', plan.replaced)
  put('upstreamsUpdated', changedUpstreams)
  if (plan.adminMoved) summary.admin = `${next.admin.address.host}:${next.admin.address.port}`
  for (const key of ['accessLog', 'reloadMs', 'shutdown', 'dns'] as const) {
    if (!sameJson(running[key], next[key])) summary[key] = next[key]
  }
  return Object.keys(summary).length === 0 ? null : summary
}

/**
 * A listener is the same socket when its protocol and configured address are. Port 0 (an
 * ephemeral port each time) is the same socket only under the same name.
 */
function socketKey(l: ListenerConfig): string {
  const { host, port } = l.address
  return `${l.protocol === 'udp' ? 'udp' : 'tcp'} ${host} ${port}${port === 0 ? ` ${l.name}` : ''}`
}

/** SPEC §10: these decide which pods an upstream has and how it talks to them. */
function needsNewPods(a: UpstreamConfig, b: UpstreamConfig): boolean {
  return a.service !== b.service || a.port !== b.port || a.portName !== b.portName || a.protocol !== b.protocol || a.mode !== b.mode
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
