// spoke's own version, from package.json: the one place `--version`, the start-up line,
// spoke_build_info and `spoke inject`'s default image read it from.
import { readFileSync } from 'node:fs'

export const SPOKE_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
