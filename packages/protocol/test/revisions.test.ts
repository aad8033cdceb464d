import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  appliedEntry,
  canonicalJson,
  type DeclEntry,
  DeclStore,
  type DeclVersion,
  decodeDeclEntries,
  encodeDeclEntries,
  generationOf,
  MAX_HISTORY,
  MAX_HISTORY_BYTES,
  normaliseWorkload,
  restartedEntry,
  restoredEntry,
  revisionsOf,
  rollbackEntry,
  scaledEntry,
  type Workload,
} from '../src/index.js'

function workload(spec: Record<string, unknown>): Workload {
  const result = normaliseWorkload({ name: 'web', image: 'nginx:1', ...spec })
  if (!result.ok) throw new Error(result.problems.join('; '))
  return result.workloads[0]!
}
const at = (wall: number, origin = 'n1'): DeclVersion => ({ hlc: { wall, logical: 0 }, origin })

/** Applies each spec in turn, as one node's store would, and returns the last entry. */
function applyAll(specs: Workload[]): DeclEntry {
  let entry: DeclEntry | undefined
  specs.forEach((spec, i) => {
    entry = appliedEntry(entry, spec, at(100 + i)) ?? entry
  })
  return entry as DeclEntry
}

describe('revisions', () => {
  test('each apply that changes the spec is a new revision; the earlier ones are kept as history', () => {
    const v1 = workload({ replicas: 3 })
    const first = appliedEntry(undefined, v1, at(1)) as DeclEntry
    expect(first.revision).toBe(1)
    expect(first.history).toBeUndefined()
    expect(appliedEntry(first, v1, at(2))).toBeUndefined()
    const second = appliedEntry(first, workload({ replicas: 3, image: 'nginx:2' }), at(3)) as DeclEntry
    expect(second.revision).toBe(2)
    // A record keeps what differs from the newer revision, not a copy of the spec.
    expect(second.history).toStrictEqual([{ revision: 1, version: at(1), set: { image: 'nginx:1' } }])
    expect(revisionsOf(second).map((r) => [r.revision, r.workload.image])).toStrictEqual([
      [2, 'nginx:2'],
      [1, 'nginx:1'],
    ])
  })

  test('property: the history rebuilds every earlier spec exactly, newest first, within its bounds', () => {
    const spec = fc
      .record({
        image: fc.constantFrom('a:1', 'a:2', 'b:1'),
        replicas: fc.nat(4),
        env: fc.dictionary(fc.constantFrom('A', 'B'), fc.constantFrom('x', 'y'), { maxKeys: 2 }),
        command: fc.option(fc.constant(['serve']), { nil: undefined }),
        health: fc.option(fc.constant({ command: ['true'] }), { nil: undefined }),
      })
      .map((s) => workload(Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined))))
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 16 }), (specs) => {
        const entry = applyAll(specs)
        // Distinct consecutive specs, newest first: what the revisions must be.
        const written = specs.filter((s, i) => i === 0 || canonicalJson(s) !== canonicalJson(specs[i - 1]))
        const expected = written.reverse()
        const revisions = revisionsOf(entry)
        expect(revisions.length).toBeLessThanOrEqual(MAX_HISTORY + 1)
        expect(revisions.length).toBe(Math.min(expected.length, MAX_HISTORY + 1))
        revisions.forEach((revision, i) => {
          expect(revision.workload).toStrictEqual(expected[i])
          expect(revision.revision).toBe(expected.length - i)
        })
        expect(decodeDeclEntries(encodeDeclEntries([entry]))).toStrictEqual({ ok: true, value: [entry] })
      }),
      { numRuns: 50 },
    )
  })

  test('a large spec keeps its previous revision, and history stays within its byte budget', () => {
    const big = (n: number) => workload({ env: { BIG: `${n}`.repeat(20_000) } })
    const entry = applyAll([big(1), big(2), big(3), big(4)])
    expect(entry.history).toHaveLength(1)
    const small = applyAll([big(1), workload({}), workload({ replicas: 2 }), workload({ replicas: 3 })])
    expect(canonicalJson(small.history).length).toBeLessThanOrEqual(MAX_HISTORY_BYTES)
    expect(revisionsOf(small).map((r) => r.revision)).toStrictEqual([4, 3, 2])
  })

  test('scale and restart write revisions; an apply after a restart keeps its count', () => {
    const v1 = appliedEntry(undefined, workload({ replicas: 2 }), at(1)) as DeclEntry
    const scaled = scaledEntry(v1, 5, at(2)) as DeclEntry
    expect(scaled.workload?.replicas).toBe(5)
    expect(scaled.cause).toBe('scale 5')
    expect(generationOf(scaled.workload!)).toBe(generationOf(v1.workload!))
    expect(scaledEntry(v1, 2, at(2))).toBeUndefined()

    const restarted = restartedEntry(scaled, at(3)) as DeclEntry
    expect(restarted.workload?.redeploy).toBe(1)
    expect(generationOf(restarted.workload!)).toBe(`${generationOf(v1.workload!)}.1`)
    const again = appliedEntry(restarted, workload({ replicas: 5 }), at(4))
    expect(again).toBeUndefined()
    const image = appliedEntry(restarted, workload({ replicas: 5, image: 'nginx:2' }), at(4)) as DeclEntry
    expect(image.workload?.redeploy).toBe(1)
  })
})

describe('rollbacks', () => {
  const v1 = workload({ replicas: 3 })
  const v2 = workload({ replicas: 3, image: 'broken:2' })
  const first = appliedEntry(undefined, v1, at(10, 'n1')) as DeclEntry
  const failed = appliedEntry(first, v2, at(20, 'n1')) as DeclEntry

  test('an automatic rollback restores the previous generation at the current scale, as a revision of its own', () => {
    const scaledUp = appliedEntry(first, workload({ replicas: 6, image: 'broken:2' }), at(20)) as DeclEntry
    const undone = rollbackEntry(scaledUp, at(30, 'n2'), 'n2 refused: image broken:2 not found') as DeclEntry
    expect(undone.workload?.image).toBe('nginx:1')
    expect(undone.workload?.replicas).toBe(6)
    expect(undone.revision).toBe(3)
    expect(undone.rollback).toStrictEqual({
      of: at(20),
      revision: 2,
      reason: 'n2 refused: image broken:2 not found',
    })
    expect(revisionsOf(undone).map((r) => [r.revision, r.workload.image])).toStrictEqual([
      [3, 'nginx:1'],
      [2, 'broken:2'],
      [1, 'nginx:1'],
    ])
    // A rollback is never rolled back, and a first revision has nothing to go back to.
    expect(rollbackEntry(undone, at(40), 'again')).toBeUndefined()
    expect(rollbackEntry(first, at(40), 'first')).toBeUndefined()
  })

  test('it beats the write it undoes, whatever the order; several nodes undoing it agree', () => {
    const byN2 = rollbackEntry(failed, at(30, 'n2'), 'n2 refused') as DeclEntry
    const byN3 = rollbackEntry(failed, at(31, 'n3'), 'n3 refused') as DeclEntry
    for (const order of [
      [failed, byN2, byN3],
      [byN3, failed, byN2],
      [byN2, byN3, failed],
    ]) {
      const store = new DeclStore(order)
      expect(store.get('web')).toStrictEqual(byN3)
    }
  })

  test('it loses to any later write: an apply or rm on the other side of a partition wins, whatever the clocks', () => {
    // The other side applies a fix at 25; this side's rollback is stamped later, at 40.
    const fix = appliedEntry(failed, workload({ replicas: 3, image: 'nginx:3' }), at(25, 'n9')) as DeclEntry
    const undone = rollbackEntry(failed, at(40, 'n2'), 'refused') as DeclEntry
    expect(new DeclStore([fix, undone]).get('web')).toStrictEqual(fix)
    expect(new DeclStore([undone, fix]).get('web')).toStrictEqual(fix)
    const gone: DeclEntry = { name: 'web', version: at(21, 'n9'), deleted: true }
    expect(new DeclStore([undone, gone]).get('web')?.deleted).toBe(true)
    // And the undone write is stale once the rollback is known.
    const store = new DeclStore([undone])
    expect(store.merge(failed)).toBe('stale')
  })

  test('gary rollback: the previous generation, or a chosen revision, as a plain write', () => {
    const restored = restoredEntry(failed, at(30)) as DeclEntry
    expect(restored.workload?.image).toBe('nginx:1')
    expect(restored.rollback).toBeUndefined()
    expect(restored.cause).toBe('rollback to 1')
    const third = appliedEntry(failed, workload({ replicas: 3, image: 'nginx:3' }), at(30)) as DeclEntry
    expect((restoredEntry(third, at(40), 2) as DeclEntry).workload?.image).toBe('broken:2')
    expect(restoredEntry(third, at(40), 3)).toBe('revision 3 is the current one')
    expect(restoredEntry(third, at(40), 7)).toMatch(/keeps no revision 7/)
    expect(restoredEntry(first, at(40))).toMatch(/no earlier revision/)
  })

  test('the codec refuses a rollback of a later write, a record that changes the name, a tombstone with history', () => {
    const undone = rollbackEntry(failed, at(30, 'n2'), 'refused') as DeclEntry
    const bad = (entry: unknown) => decodeDeclEntries(encodeDeclEntries([entry as DeclEntry])).ok
    expect(bad(undone)).toBe(true)
    expect(bad({ ...undone, rollback: { ...undone.rollback, of: at(31) } })).toBe(false)
    expect(bad({ ...failed, history: [{ revision: 1, version: at(1), set: { name: 'other' } }] })).toBe(false)
    expect(bad({ ...failed, history: [{ revision: 2, version: at(1) }] })).toBe(false)
    expect(bad({ name: 'web', version: at(50), deleted: true, history: failed.history })).toBe(false)
    // A record that rebuilds into no valid workload is never used: the list ends before it.
    const broken = { ...failed, history: [{ revision: 1, version: at(1), set: { replicas: -1 } }] }
    expect(bad(broken)).toBe(true)
    expect(revisionsOf(broken).map((r) => r.revision)).toStrictEqual([2])
  })
})
