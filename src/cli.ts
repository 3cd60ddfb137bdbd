// argv → run | check | demo | inject (SPEC §2). Returns the exit code, or undefined while `run` serves.
import { runCheck, formatConfigError } from './config/check.ts'
import { loadConfigBytes, readConfigFile, resolveConfigPath } from './config/load.ts'
import type { LogLevel } from './config/types.ts'
import { ConfigWatcher, contentHash } from './lifecycle/config-watch.ts'
import { handleSignals } from './lifecycle/shutdown.ts'
import { createLogger, isLogLevel } from './log.ts'
import { Spoke } from './main.ts'
import { SPOKE_VERSION } from './version.ts'

const USAGE = `Usage: spoke <command> [options]

Commands:
  run      run the proxy until SIGTERM/SIGINT
  check    validate the configuration and print it with every default filled in;
           with --resolve, also resolve every upstream and connect to each pod once
  demo     start a local cluster on loopback and show what spoke does (exits by itself)
  inject   add the spoke sidecar to Kubernetes workloads in YAML (spoke inject --help)

Options:
  -c, --config FILE     configuration file (default: $SPOKE_CONFIG, else ./spoke.yaml)
  --log-level LEVEL     debug | info | warn | error (default: $SPOKE_LOG_LEVEL, else info)
  --resolve             check only: does DNS find pods, and do they accept connections?
  --version             print the version
  -h, --help            print this help
`

interface Args {
  command: string | null
  config: string | undefined
  logLevel: string | undefined
  help: boolean
  version: boolean
  resolve: boolean
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { command: null, config: undefined, logLevel: undefined, help: false, version: false, resolve: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const value = (): string => {
      if (inline !== undefined) return inline
      const v = argv[++i]
      if (v === undefined) throw new UsageError(`${flag} needs a value`)
      return v
    }
    switch (flag) {
      case '-c': case '--config': args.config = value(); break
      case '--log-level': args.logLevel = value(); break
      case '-h': case '--help': args.help = true; break
      case '--version': args.version = true; break
      case '--resolve': args.resolve = true; break
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`)
        if (args.command !== null) throw new UsageError(`unexpected argument ${a}`)
        args.command = a
    }
  }
  return args
}

export async function main(argv: readonly string[]): Promise<number | undefined> {
  if (argv[0] === 'inject') {
    // inject has options of its own; it never reads spoke.yaml.
    const { runInject } = await import('./inject/command.ts')
    return runInject(argv.slice(1), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, version: SPOKE_VERSION })
  }
  let args: Args
  try {
    args = parseArgs(argv)
  } catch (err) {
    process.stderr.write(`spoke: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (args.version) {
    process.stdout.write(`spoke ${SPOKE_VERSION}\n`)
    return 0
  }
  if (args.help || args.command === null) {
    ;(args.help ? process.stdout : process.stderr).write(USAGE)
    return args.help ? 0 : 2
  }
  const level = args.logLevel ?? process.env.SPOKE_LOG_LEVEL ?? 'info'
  if (!isLogLevel(level)) {
    process.stderr.write(`spoke: --log-level must be one of debug, info, warn, error (got ${JSON.stringify(level)})\n`)
    return 2
  }
  if (args.resolve && args.command !== 'check') {
    process.stderr.write(`spoke: --resolve is an option of check only\n\n${USAGE}`)
    return 2
  }
  switch (args.command) {
    case 'check':
      if (args.resolve) {
        const { runResolveCheck } = await import('./preflight.ts')
        return runResolveCheck({ configPath: resolveConfigPath(args.config), stdout: process.stdout, stderr: process.stderr })
      }
      return runCheck({ configPath: resolveConfigPath(args.config), stdout: process.stdout, stderr: process.stderr })
    case 'run':
      return run(resolveConfigPath(args.config), level)
    case 'demo': {
      const { runDemo } = await import('./demo/demo.ts')
      return runDemo({ out: process.stdout })
    }
    default:
      process.stderr.write(`spoke: unknown command ${JSON.stringify(args.command)}\n\n${USAGE}`)
      return 2
  }
}

async function run(configPath: string, level: LogLevel): Promise<number | undefined> {
  // Read once: the watcher compares later content with exactly what spoke started from.
  const bytes = readConfigFile(configPath)
  const loaded = Buffer.isBuffer(bytes) ? loadConfigBytes(bytes) : { ok: false as const, errors: [bytes] }
  if (!loaded.ok) {
    for (const e of loaded.errors) process.stderr.write(formatConfigError(configPath, e) + '\n')
    return 2
  }
  const log = createLogger(level)
  let spoke: Spoke
  try {
    spoke = await Spoke.start(loaded.config, { log, reduceMemory: true })
  } catch (err) {
    process.stderr.write(`spoke: ${(err as Error).message}\n`)
    return 1
  }
  const watcher = new ConfigWatcher(configPath, spoke, log, contentHash(bytes as Buffer))
  watcher.start()
  handleSignals(spoke, log, undefined, () => watcher.stop())
  return undefined
}
