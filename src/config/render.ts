// The effective configuration back in the shape users write (SPEC §3), for `spoke check` and the
// admin /config endpoint. It walks the same schema that validated it, so it parses back equal.
import { stringify } from 'yaml'
import type { Config } from './types.ts'
import { CONFIG_SCHEMA } from './validate.ts'

export function toDocument(config: Config): Record<string, unknown> {
  return CONFIG_SCHEMA.render(config) as Record<string, unknown>
}

export function toYaml(config: Config): string {
  // lineWidth 0: never fold a long service name onto a second line.
  return stringify(toDocument(config), { lineWidth: 0 })
}
