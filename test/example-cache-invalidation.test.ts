// examples/cache-invalidation: its walk-through, step by step.
import t from 'tap'
import { walkthrough } from '../examples/cache-invalidation/walkthrough.ts'

t.test('one broadcast makes every replica drop the key; repeats are recognised', async (t) => {
  const lines: string[] = []
  const result = await walkthrough((line) => lines.push(line))
  t.strictSame(result.cachedBefore, [['sku-42'], ['sku-42'], ['sku-42']], 'every replica cached the key')
  t.equal(result.invalidation.status, 200)
  t.match(result.invalidation.envelope, { outcome: 'success', endpoints: 3, succeeded: 3 })
  t.strictSame(result.invalidation.envelope.responses.map((r) => r.status), [204, 204, 204])
  t.strictSame(result.cachedAfter, [[], [], []], 'every replica dropped the key')
  t.equal(result.repeated.status, 200)
  t.equal(result.repeated.duplicates, 3, 'the same broadcast id again: every replica saw a duplicate')
  t.strictSame(result.readsAfter.map((r) => [r.value, r.cache]), [['price=12', 'miss'], ['price=12', 'miss'], ['price=12', 'miss']])
  t.strictSame(new Set(result.readsAfter.map((r) => r.replica)).size, 3, 'the reads went to all three replicas')
  t.ok(lines.length > 10, 'the walk-through printed its steps')
})
