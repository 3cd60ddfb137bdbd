// Every relative link in the repository's Markdown leads to a file of the repository (not to a
// folder beside the checkout, as the README's link to the contract once did), and every
// `#anchor` to a heading of the file it names.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const listed = spawnSync('git', ['ls-files', '*.md'], { cwd: REPO, encoding: 'utf8' })
const files = listed.status === 0 ? listed.stdout.split('\n').filter((f) => f !== '') : []

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to "-". */
const slug = (heading: string): string =>
  heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '')
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])))
}

t.test('relative links in Markdown resolve inside the repository', { skip: files.length === 0 ? 'not a git checkout' : false }, async (t) => {
  let links = 0
  for (const file of files) {
    const path = join(REPO, file)
    const text = readFileSync(path, 'utf8').replace(/^```[\s\S]*?^```/gm, '')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue
      links++
      const [where, anchor] = target.split('#')
      const to = where === '' ? path : resolve(dirname(path), where)
      const inside = !relative(REPO, to).startsWith('..')
      t.ok(inside && existsSync(to), `${file}: ${target} is a file of the repository`)
      if (anchor !== undefined && inside && existsSync(to) && to.endsWith('.md')) {
        t.ok(anchors(to).has(anchor), `${file}: #${anchor} is a heading of ${relative(REPO, to)}`)
      }
    }
  }
  t.ok(links > 10, `${links} relative links checked`)
})
