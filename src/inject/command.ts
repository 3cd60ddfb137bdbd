// `spoke inject`: argv and I/O around injectManifests. The YAML goes to stdout, so that
// `spoke inject -f app.yaml | kubectl apply -f -` works; what was done to each object goes to
// stderr. Exit 2 for bad usage or input that is not YAML, with nothing on stdout.
import { readFileSync } from 'node:fs'
import { readPodConfig } from './config.ts'
import { InjectError, injectManifests } from './inject.ts'
import type { ConfigToShip, Outcome } from './inject.ts'
import { CHECKSUM_ANNOTATION, configMapNameProblem, CONFIG_FILE, DEFAULT_ADMIN_PORT, DEFAULT_CONFIGMAP, defaultImage, INJECT_ANNOTATION, CONFIGMAP_ANNOTATION } from './sidecar.ts'
import type { SidecarOptions } from './sidecar.ts'

export interface InjectIo {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean }
  readonly stdout: { write(text: string): unknown }
  readonly stderr: { write(text: string): unknown }
  /** The package version: the default image's tag. */
  readonly version: string
}

export function injectUsage(version: string): string {
  return `Usage: spoke inject [-f FILE] [options] > injected.yaml

Adds the spoke sidecar, the volume with its spoke.yaml, probes and Prometheus annotations to every
Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and Pod in Kubernetes YAML (any number
of documents, or a List) and writes the result to stdout. Comments and all other documents are
kept; objects annotated ${INJECT_ANNOTATION}: disabled are left alone; injecting twice changes nothing.

Options:
  -f, --filename FILE   read FILE (without -f, or with "-": standard input)
  -c, --config FILE     validate FILE (as spoke check does) and write it into a ConfigMap placed
                        before the workloads; the admin port comes from its admin.address, and
                        the pod template gets a ${CHECKSUM_ANNOTATION} annotation, so that
                        applying a changed file rolls the pods
  --no-config-checksum  with --config: no ${CHECKSUM_ANNOTATION} annotation (an existing one is
                        removed): a changed file is left to spoke's reload, restarting nothing
  --configmap NAME      the ConfigMap holding spoke.yaml, mounted at ${CONFIG_FILE} (default:
                        ${DEFAULT_CONFIGMAP}; with --config, <workload>-spoke); a pod's
                        ${CONFIGMAP_ANNOTATION} annotation names its own
  --image IMAGE         the spoke image (default: ${defaultImage(version)}, which is not
                        published: build it from the repository's Dockerfile and push it)
  --admin-port PORT     the port of admin.address in spoke.yaml (default: ${DEFAULT_ADMIN_PORT})
  --classic             a classic container instead of a native sidecar (an init container with
                        restartPolicy: Always, which needs Kubernetes 1.29 or later)
  -h, --help            print this help
`
}

class UsageError extends Error {}

interface Args {
  file: string | undefined
  help: boolean
  options: SidecarOptions
  config: string | undefined
  /** Given, not defaulted: --config derives the ConfigMap's name; the default image is warned about. */
  configMapGiven: boolean
  checksum: boolean
  imageGiven: boolean
}

function parseArgs(argv: readonly string[], version: string): Args {
  let file: string | undefined
  let help = false
  let image = defaultImage(version)
  let configMap = DEFAULT_CONFIGMAP
  let adminPort = DEFAULT_ADMIN_PORT
  let classic = false
  let config: string | undefined
  let checksum = true
  const given = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const eq = a.startsWith('--') ? a.indexOf('=') : -1
    const flag = eq === -1 ? a : a.slice(0, eq)
    const value = (): string => {
      if (eq !== -1) return a.slice(eq + 1)
      const v = argv[++i]
      if (v === undefined) throw new UsageError(`${flag} needs a value`)
      return v
    }
    given.add(flag)
    switch (flag) {
      case '-f': case '--filename': file = value(); break
      case '-c': case '--config': config = value(); break
      case '--configmap': {
        configMap = value()
        const problem = configMapNameProblem(configMap)
        if (problem !== null) throw new UsageError(`--configmap ${problem}, not ${JSON.stringify(configMap)}`)
        break
      }
      case '--image':
        image = value()
        if (!/^[^\s]+$/.test(image)) throw new UsageError(`--image must be an image reference, not ${JSON.stringify(image)}`)
        break
      case '--admin-port': {
        const v = value()
        adminPort = Number(v)
        if (!/^\d+$/.test(v) || adminPort < 1 || adminPort > 65535) throw new UsageError(`--admin-port must be a port from 1 to 65535, not ${JSON.stringify(v)}`)
        break
      }
      case '--classic': classic = true; break
      case '--no-config-checksum': checksum = false; break
      case '-h': case '--help': help = true; break
      default:
        if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`)
        if (file !== undefined) throw new UsageError(`unexpected argument ${a} (one file at a time)`)
        file = a
    }
  }
  if (config === undefined && !checksum) throw new UsageError('--no-config-checksum goes with --config')
  if (config !== undefined && given.has('--admin-port')) throw new UsageError('--admin-port and --config: the port is admin.address\'s in the file')
  return {
    file, help, options: { image, configMap, adminPort, classic }, config,
    configMapGiven: given.has('--configmap'), imageGiven: given.has('--image'), checksum,
  }
}

export async function runInject(argv: readonly string[], io: InjectIo): Promise<number> {
  let args: Args
  try {
    args = parseArgs(argv, io.version)
  } catch (err) {
    io.stderr.write(`spoke inject: ${(err as Error).message}\n\n${injectUsage(io.version)}`)
    return 2
  }
  if (args.help) {
    io.stdout.write(injectUsage(io.version))
    return 0
  }
  const fromStdin = args.file === undefined || args.file === '-'
  if (fromStdin && io.stdin.isTTY === true) {
    io.stderr.write(`spoke inject: give the manifests with -f FILE or on standard input\n\n${injectUsage(io.version)}`)
    return 2
  }
  let source: string
  try {
    source = fromStdin ? await readAll(io.stdin) : readFileSync(args.file!, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : (err as Error).message
    io.stderr.write(`spoke inject: cannot read ${args.file}: ${why}\n`)
    return 2
  }
  let options = args.options
  let ship: ConfigToShip | undefined
  if (args.config !== undefined) {
    const read = readPodConfig(args.config)
    if (!read.ok) {
      io.stderr.write(read.problems.map((p) => `spoke inject: ${p}\n`).join(''))
      return 2
    }
    for (const w of read.config.warnings) io.stderr.write(`spoke inject: warning: ${w}\n`)
    options = { ...options, adminPort: read.config.adminPort }
    ship = { text: read.config.text, checksum: args.checksum ? read.config.checksum : null, name: args.configMapGiven ? options.configMap : undefined }
  }
  const name = fromStdin ? '<stdin>' : args.file!
  try {
    const { output, outcomes } = injectManifests(source, options, ship)
    io.stdout.write(output)
    io.stderr.write(summary(outcomes))
    if (!args.imageGiven) io.stderr.write(unpublished(options.image))
    return 0
  } catch (err) {
    if (!(err instanceof InjectError)) throw err
    io.stderr.write(err.message.split('\n').map((line) => `spoke inject: ${name}: ${line}\n`).join(''))
    return 2
  }
}

function summary(outcomes: readonly Outcome[]): string {
  if (outcomes.length === 0) return 'spoke inject: no Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or Pod found; nothing injected\n'
  return outcomes.map((o) => {
    if (o.result === 'skipped') return `${o.resource} skipped (${o.notes.join('; ')})\n`
    return `${o.resource} ${o.result}\n` + o.notes.map((n) => `${o.resource}: note: ${n}\n`).join('')
  }).join('')
}

function unpublished(image: string): string {
  const tag = image.slice(image.lastIndexOf(':') + 1)
  return `spoke inject: warning: ${image} is not published; build the image from the Dockerfile in spoke's repository, push it to a registry your cluster pulls from, and name it with --image:
  docker build -t REGISTRY/spoke:${tag} . && docker push REGISTRY/spoke:${tag}
  spoke inject --image REGISTRY/spoke:${tag} ...
`
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString('utf8')
}
