// A logger that keeps spoke's lines, parsed, for tests that read what spoke said.
import type { LogLevel } from '../../src/config/types.ts'
import { createLogger, type Logger } from '../../src/log.ts'

export type Line = Record<string, unknown>

export function recorder(level: LogLevel): { log: Logger; lines: Line[] } {
  const lines: Line[] = []
  return { log: createLogger(level, (l) => lines.push(JSON.parse(l) as Line)), lines }
}
