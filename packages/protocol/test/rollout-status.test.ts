import { describe, expect, test } from 'vitest'
import {
  appliedEntry,
  type DeclEntry,
  generationOf,
  rollbackEntry,
  rolloutStatus,
  type SlotPromise,
  type Workload,
} from '../src/index.js'
import { workload } from './placement-builders.js'

// What `gary apply --wait` and `gary rollout status` read: a rollout's state from any node's view.

const update = {
  maxUnavailable: 2,
  monitorMs: 1000,
  failureAction: 'rollback' as const,
  order: 'stop-first' as const,
}
const v1 = workload('web', { replicas: 4, update })
const v2: Workload = { ...v1, image: 'img:2' }
const version = (wall: number) => ({ hlc: { wall, logical: 0 }, origin: 'n1' })
const first = appliedEntry(undefined, v1, version(1)) as DeclEntry
const second = appliedEntry(first, v2, version(2)) as DeclEntry

const promise = (w: Workload, slot: number, more: Partial<SlotPromise> = {}): SlotPromise => ({
  workload: w.name,
  slot,
  generation: generationOf(w),
  phase: 'running',
  since: { wall: 1, logical: slot },
  ready: true,
  endpoints: [],
  ...more,
})

describe('rolloutStatus', () => {
  test('counts slots updated, ready past their monitor, and old, wave by wave', () => {
    const status = rolloutStatus({
      entry: second,
      nodes: [
        {
          id: 'n1',
          promises: [promise(v2, 0), promise(v2, 1, { probation: true }), promise(v1, 2), promise(v1, 3)],
          refusals: [],
        },
      ],
      unschedulable: [],
    })
    expect(status).toMatchObject({
      state: 'progressing',
      revision: 2,
      total: 4,
      updated: 2,
      ready: 1,
      old: 2,
    })
    expect([status.wave, status.waves]).toEqual([1, 2])
  })

  test('is complete once every slot serves the new generation off probation, and nothing old is left', () => {
    const nodes = [{ id: 'n1', promises: [0, 1, 2, 3].map((slot) => promise(v2, slot)), refusals: [] }]
    expect(rolloutStatus({ entry: second, nodes, unschedulable: [] }).state).toBe('complete')
    // A start-first predecessor still running holds it up.
    nodes[0]?.promises.push(promise(v1, 3))
    expect(rolloutStatus({ entry: second, nodes, unschedulable: [] }).state).toBe('progressing')
  })

  test('fails when a node refused the generation on probation, naming the node and the reason', () => {
    const refusal = { workload: 'web', generation: generationOf(v2), reason: 'exited', at: version(3).hlc }
    const status = rolloutStatus({
      entry: second,
      nodes: [{ id: 'n2', promises: [], refusals: [{ ...refusal, rollout: true }] }],
      unschedulable: [],
    })
    expect(status.state).toBe('failed')
    expect(status.reasons).toContain('n2 refused: exited')
    // A refusal outside a rollout (a first deploy) is a reason it does not progress, not a failure.
    const plain = rolloutStatus({
      entry: second,
      nodes: [{ id: 'n2', promises: [], refusals: [refusal] }],
      unschedulable: [],
    })
    expect(plain.state).toBe('progressing')
    expect(plain.reasons).toContain('n2 refused: exited')
  })

  test('fails when the revision followed was rolled back, or replaced, or deleted', () => {
    const undone = rollbackEntry(second, version(3), 'web/0 on n2: exited') as DeclEntry
    const back = rolloutStatus({ entry: undone, nodes: [], unschedulable: [], revision: 2 })
    expect(back.state).toBe('failed')
    expect(back.reasons[0]).toMatch(/^revision 2 was rolled back .*: web\/0 on n2: exited$/)
    const later = appliedEntry(second, { ...v2, image: 'img:3' }, version(4)) as DeclEntry
    expect(rolloutStatus({ entry: later, nodes: [], unschedulable: [], revision: 2 }).reasons).toEqual([
      'revision 2 was replaced by revision 3',
    ])
    const gone: DeclEntry = { name: 'web', version: version(5), deleted: true }
    expect(rolloutStatus({ entry: gone, nodes: [], unschedulable: [] }).state).toBe('failed')
  })
})
