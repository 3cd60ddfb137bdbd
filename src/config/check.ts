// `spoke check` (SPEC §2): the effective configuration on stdout and exit 0, or every problem on
// stderr, one per line, and exit 2.
import { loadConfigFile } from './load.ts'
import { toYaml } from './render.ts'
import type { ConfigError } from './schema.ts'

export interface TextOut {
  write(text: string): unknown
}

export const EXIT_OK = 0
export const EXIT_INVALID_CONFIG = 2

export function runCheck(args: { configPath: string; stdout: TextOut; stderr: TextOut }): number {
  const result = loadConfigFile(args.configPath)
  if (result.ok) {
    args.stdout.write(toYaml(result.config))
    return EXIT_OK
  }
  args.stderr.write(result.errors.map((e) => formatConfigError(args.configPath, e) + '\n').join(''))
  return EXIT_INVALID_CONFIG
}

/** `spoke.yaml: upstreams[0].port: must be …`; a problem with the whole file has no path. */
export function formatConfigError(file: string, e: ConfigError): string {
  return e.path === '' ? `${file}: ${e.message}` : `${file}: ${e.path}: ${e.message}`
}
