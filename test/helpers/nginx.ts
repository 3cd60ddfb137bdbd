// Real nginx pods for tests: one master process with a server block per loopback address, in a
// temporary prefix, stopped by its PID. nginx is installed by .ci/run (Debian's nginx-light).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'

export interface NginxPods {
  readonly hosts: string[]
  readonly port: number
  close(): Promise<void>
}

/**
 * nginx answering `200 ok` with `x-pod`, on each host; `directives` go into the http block,
 * `listenParams` after each address (" http2": h2c with prior knowledge; the readiness probe then
 * only checks that the port is open).
 */
export async function startNginxPods(hosts: string[], directives = '', listenParams = ''): Promise<NginxPods> {
  const dir = mkdtempSync(join(tmpdir(), 'spoke-nginx-'))
  const port = await portFreeOn(hosts)
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((d) => `${d}_temp_path ${dir}/${d};`).join(' ')
  const servers = hosts.map((h, i) => `server { listen ${h}:${port}${listenParams}; add_header x-pod nginx-${i}; location / { return 200 "ok\\n"; } }`).join('\n')
  writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http { access_log off; default_type text/plain; ${temp} ${directives}
${servers}
}
`)
  const child: ChildProcess = spawn('nginx', ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject))
  // Ready when every address answers.
  const deadline = Date.now() + 10_000
  for (const host of hosts) {
    for (;;) {
      const probe = listenParams === '' ? fetch(`http://${host}:${port}/`).then((r) => r.ok, () => false) : portOpen(host, port)
      const ok = await Promise.race([probe, spawnError])
      if (ok) break
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL')
        throw new Error(`nginx did not start on ${host}:${port}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return {
    hosts, port,
    async close() {
      if (child.exitCode === null) child.kill('SIGQUIT')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A port no one listens on at any of the hosts (checked by binding it briefly). */
async function portFreeOn(hosts: string[]): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const port = 20000 + Math.floor(Math.random() * 40000)
    const free = await Promise.all(hosts.map((host) => new Promise<boolean>((resolve) => {
      const server = net.createServer()
      server.once('error', () => resolve(false))
      server.listen(port, host, () => server.close(() => resolve(true)))
    })))
    if (free.every(Boolean)) return port
  }
  throw new Error(`no port free on ${hosts.join(', ')}`)
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
