// Enough of a Dockerfile interpreter to replay a stage on this machine, where there is no Docker
// engine: WORKDIR, COPY (from the context, filtered by .dockerignore, or from another stage), RUN
// (through sh), and the USER/ENTRYPOINT/CMD of the result. Each replayed stage's filesystem is a
// folder; a stage that is not replayed is given as a function mapping its paths to host paths.
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { basename, join, posix, relative } from 'node:path'
import { promisify } from 'node:util'

export interface Instruction {
  readonly op: string
  readonly args: string
  readonly line: number
}

export interface Stage {
  readonly name: string
  readonly image: string
  readonly instructions: readonly Instruction[]
}

export function parseDockerfile(text: string): Stage[] {
  const stages: { name: string; image: string; instructions: Instruction[] }[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1
    let line = lines[i].trim()
    if (line === '' || line.startsWith('#')) continue
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i].trim()
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line)
    if (m === null) throw new Error(`Dockerfile line ${start}: cannot read ${JSON.stringify(line)}`)
    const op = m[1].toUpperCase()
    if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2].trim())
      if (from === null) throw new Error(`Dockerfile line ${start}: FROM ${m[2]}`)
      stages.push({ name: from[2] ?? String(stages.length), image: from[1], instructions: [] })
    } else {
      if (stages.length === 0) throw new Error(`Dockerfile line ${start}: ${op} before FROM`)
      stages.at(-1)!.instructions.push({ op, args: m[2].trim(), line: start })
    }
  }
  return stages
}

/** ENTRYPOINT/CMD in JSON (exec) form: the only form that needs no shell, which distroless lacks. */
export function execForm(instruction: Instruction | undefined): string[] {
  if (instruction === undefined) return []
  const value: unknown = JSON.parse(instruction.args)
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new Error(`Dockerfile line ${instruction.line}: ${instruction.op} must be a JSON array of strings`)
  }
  return value as string[]
}

export interface Copy {
  readonly from: string | null
  readonly sources: readonly string[]
  readonly dest: string
}

export function parseCopy(instruction: Instruction): Copy {
  const words = instruction.args.split(/\s+/)
  let from: string | null = null
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length)
    else if (!/^--(chown|chmod|link)(=|$)/.test(flag)) throw new Error(`Dockerfile line ${instruction.line}: COPY ${flag} is not replayed`)
  }
  if (words.length < 2) throw new Error(`Dockerfile line ${instruction.line}: COPY needs a source and a destination`)
  return { from, sources: words.slice(0, -1), dest: words.at(-1)! }
}

/** .dockerignore as Docker reads it: the last pattern matching a path or one of its parent folders decides. */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!')
    return { negate, pattern: globToRegExp(posix.normalize(negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '')) }
  })
  return (path) => {
    const parts = path.split('/')
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let excluded = false
    for (const { negate, pattern } of rules) {
      if (prefixes.some((p) => pattern.test(p))) excluded = !negate
    }
    return excluded
  }
}

/** Go's filepath.Match, which Docker uses (so `*` matches dot files too), plus `**` for any folders. */
function globToRegExp(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*' && glob[i + 1] === '*') {
      i++
      if (glob[i + 1] === '/') {
        re += '(?:.*/)?'
        i++
      } else re += '.*'
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const end = glob.indexOf(']', i)
      re += glob.slice(i, end + 1).replace('[!', '[^')
      i = end
    } else if (c === '\\') re += '\\' + glob[++i]
    else re += c.replace(/[.+^${}()|]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

/** Maps an absolute path inside a stage to a host path. */
export type StageFs = (path: string) => string

export interface Replayed {
  readonly fs: StageFs
  readonly workdir: string
  readonly user: string | null
  readonly entrypoint: string[]
  readonly cmd: string[]
}

export interface ReplayOptions {
  /** The folder standing for the stage's root filesystem. */
  readonly root: string
  readonly context: string
  readonly ignored: (path: string) => boolean
  /** Earlier stages by name. */
  readonly stages: ReadonlyMap<string, StageFs>
  readonly env: NodeJS.ProcessEnv
  /** RUN lines done another way here, by their exact text; each must occur. */
  readonly substitutes?: ReadonlyMap<string, (cwd: string) => void>
}

const run = promisify(execFile)

export async function replayStage(stage: Stage, o: ReplayOptions): Promise<Replayed> {
  const fs: StageFs = (p) => join(o.root, p)
  let workdir = '/'
  let user: string | null = null
  let entrypoint: string[] = []
  let cmd: string[] = []
  for (const ins of stage.instructions) {
    switch (ins.op) {
      case 'WORKDIR':
        workdir = posix.resolve(workdir, ins.args)
        mkdirSync(fs(workdir), { recursive: true })
        break
      case 'COPY': {
        const copy = parseCopy(ins)
        const dest = posix.resolve(workdir, copy.dest)
        const intoDir = copy.dest.endsWith('/') || copy.sources.length > 1
        for (const source of copy.sources) {
          if (copy.from === null) copyFromContext(source, dest, intoDir, o)
          else {
            const from = o.stages.get(copy.from)
            if (from === undefined) throw new Error(`Dockerfile line ${ins.line}: no stage ${copy.from} to copy from`)
            copyPath(from(posix.resolve('/', source)), fs(dest), intoDir, () => false, '')
          }
        }
        break
      }
      case 'RUN': {
        const substitute = o.substitutes?.get(ins.args)
        if (substitute !== undefined) substitute(fs(workdir))
        // Without NODE_OPTIONS: a test runner's loaders (tap adds its own to every child
        // process) have no place in a build step.
        else await run('/usr/bin/env', ['-u', 'NODE_OPTIONS', 'sh', '-c', ins.args], { cwd: fs(workdir), env: o.env, maxBuffer: 16 * 1024 * 1024 })
        break
      }
      case 'USER': user = ins.args; break
      case 'ENTRYPOINT': entrypoint = execForm(ins); cmd = []; break
      case 'CMD': cmd = execForm(ins); break
      case 'EXPOSE': case 'LABEL': case 'ARG': break
      default: throw new Error(`Dockerfile line ${ins.line}: ${ins.op} is not replayed`)
    }
  }
  for (const line of o.substitutes?.keys() ?? []) {
    if (!stage.instructions.some((i) => i.op === 'RUN' && i.args === line)) throw new Error(`stage ${stage.name} has no RUN ${line}`)
  }
  return { fs, workdir, user, entrypoint, cmd }
}

function copyFromContext(source: string, dest: string, intoDir: boolean, o: ReplayOptions): void {
  const normal = posix.normalize(source).replace(/^\/+|\/+$/g, '')
  const rel = normal === '.' ? '' : normal
  if (rel !== '' && o.ignored(rel)) throw new Error(`COPY ${source}: excluded by .dockerignore`)
  copyPath(join(o.context, rel), join(o.root, dest), intoDir, o.ignored, rel)
}

/** Docker's COPY: a folder's contents go into the destination; a file goes to it, or into it when it is a folder. */
function copyPath(from: string, to: string, intoDir: boolean, ignored: (p: string) => boolean, rel: string): void {
  if (!existsSync(from)) throw new Error(`COPY: ${from} does not exist`)
  if (statSync(from).isDirectory()) {
    mkdirSync(to, { recursive: true })
    for (const entry of readdirSync(from)) {
      const childRel = rel === '' ? entry : `${rel}/${entry}`
      if (ignored(childRel)) continue
      copyPath(join(from, entry), join(to, entry), false, ignored, childRel)
    }
    return
  }
  const target = intoDir ? join(to, basename(from)) : to
  mkdirSync(intoDir ? to : join(target, '..'), { recursive: true })
  cpSync(from, target)
}

/** Every file under `dir`, relative to it. */
export function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => statSync(join(dir, p)).isFile()).map((p) => relative(dir, join(dir, p)))
}
