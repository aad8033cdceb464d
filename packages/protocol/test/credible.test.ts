import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type Credence,
  credenceOf,
  credibleNode,
  generationOf,
  type Hlc,
  incredible,
  type PlacementNode,
  plan,
  type SlotPromise,
  type Workload,
} from '../src/index.js'
import { GI, MI, node, workload } from './placement-builders.js'

// A member may only promise about itself: the promises it cannot have kept (a `since` before its
// generation was declared or ahead of every clock, claims past its capacity) must not count.
// fast-check prints the seed and the shrunk counterexample on failure.

const OFFSET = 500
const NOW = 1_700_000_000_000
const DECLARED: Hlc = { wall: NOW - 60_000, logical: 3 }

const web = workload('web', { replicas: 8, resources: { cpuMillis: 500, memoryBytes: 256 * MI } })
const db = workload('db', { replicas: 3, resources: { cpuMillis: 1000, memoryBytes: 1 * GI } })
const agent = workload('agent', { mode: 'global', replicas: 0 })
const WORKLOADS = [web, db, agent]

const credence = (): Credence =>
  credenceOf(WORKLOADS, new Map(WORKLOADS.map((w) => [w.name, DECLARED])), OFFSET)

const promise = (spec: Workload, slot: number, since: Hlc, phase: SlotPromise['phase'] = 'running') => ({
  workload: spec.name,
  slot,
  generation: generationOf(spec),
  phase,
  since,
  ready: phase === 'running',
  endpoints: [],
})

const phase = fc.constantFrom<SlotPromise['phase']>('claimed', 'starting', 'running', 'failed', 'releasing')
/** A `since` an honest member can publish: after the declaration, within the offset. */
const honestSince = fc.record({
  wall: fc.integer({ min: DECLARED.wall - OFFSET, max: NOW + OFFSET }),
  logical: fc.nat(5),
})
const anySince = fc.record({ wall: fc.integer({ min: 0, max: NOW * 2 }), logical: fc.nat(5) })
const slotOf = fc
  .constantFrom(...WORKLOADS)
  .chain((w) =>
    fc.record({ w: fc.constant(w), slot: w.mode === 'global' ? fc.constant(0) : fc.nat(w.replicas - 1) }),
  )
const capacity = fc.record({ cpuMillis: fc.nat(8000), memoryBytes: fc.nat(8 * GI) })

/** A member's promises, each slot at most once. */
const promises = (since: fc.Arbitrary<Hlc>) =>
  fc.array(fc.record({ at: slotOf, since, phase }), { maxLength: 14 }).map((list) => {
    const seen = new Set<string>()
    return list
      .filter(({ at }) => !seen.has(`${at.w.name}/${at.slot}`) && seen.add(`${at.w.name}/${at.slot}`))
      .map(({ at, since, phase }) => promise(at.w, at.slot, since, phase))
  })

const used = (n: PlacementNode) => {
  let cpu = 0
  let memory = 0
  for (const p of n.promises) {
    if (p.phase === 'failed' || p.phase === 'releasing') continue
    const w = WORKLOADS.find((spec) => spec.name === p.workload) as Workload
    cpu += w.resources.cpuMillis
    memory += w.resources.memoryBytes
  }
  return { cpu, memory }
}

describe('credible promises', () => {
  test('an honest member within its capacity keeps every promise', () => {
    fc.assert(
      fc.property(promises(honestSince), (list) => {
        const member = node('n1', { promises: list, capacity: { cpuMillis: 100_000, memoryBytes: 100 * GI } })
        expect(credibleNode(member, credence())).toBe(member)
      }),
    )
  })

  test('what counts never claims more than the member publishes, nor a since before its generation', () => {
    fc.assert(
      fc.property(promises(anySince), capacity, (list, cap) => {
        const kept = credibleNode(node('liar', { promises: list, capacity: cap }), credence())
        const { cpu, memory } = used(kept)
        expect(cpu).toBeLessThanOrEqual(cap.cpuMillis)
        expect(memory).toBeLessThanOrEqual(cap.memoryBytes)
        for (const p of kept.promises) expect(p.since.wall).toBeGreaterThanOrEqual(DECLARED.wall - OFFSET)
      }),
    )
  })

  test('every receiver drops the same promises, whatever their order', () => {
    fc.assert(
      fc.property(
        promises(anySince).chain((list) =>
          fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length })),
        ),
        capacity,
        ([list, shuffled], cap) => {
          const a = incredible(node('liar', { promises: list, capacity: cap }), credence())
          const b = incredible(node('liar', { promises: shuffled, capacity: cap }), credence())
          expect(new Set(b.keys())).toEqual(new Set(a.keys()))
        },
      ),
    )
  })

  test('a promise of another generation, or since the offset before its declaration, counts', () => {
    const old = { ...promise(web, 0, { wall: 1, logical: 0 }), generation: 'aaaaaaaaaaaa' }
    const edge = promise(web, 1, { wall: DECLARED.wall - OFFSET, logical: 0 })
    const before = promise(web, 2, { wall: DECLARED.wall - OFFSET - 1, logical: 0 })
    const dropped = incredible(node('n1', { promises: [old, edge, before] }), credence())
    expect([...dropped]).toEqual([[before, 'since-before-generation']])
  })

  test('a member past its capacity keeps its oldest claims, then the first slots', () => {
    const list = [2, 0, 1].map((slot) => promise(db, slot, { wall: NOW - 1000, logical: slot }))
    const kept = credibleNode(
      node('n1', { promises: list, capacity: { cpuMillis: 2000, memoryBytes: 8 * GI } }),
      credence(),
    )
    expect(kept.promises.map((p) => p.slot)).toEqual([0, 1])
  })

  test('a lying since no longer takes a running slot from its honest holder', () => {
    const honest = node('honest', { promises: [promise(web, 0, { wall: NOW - 30_000, logical: 0 })] })
    const liar = node('aaa-liar', {
      promises: Array.from({ length: 8 }, (_, slot) => promise(web, slot, { wall: 1, logical: 0 })),
    })
    const view = (nodes: PlacementNode[]) => ({
      self: 'honest',
      workloads: [web],
      nodes,
      nowWall: NOW,
      partialView: false,
      partialViewForMs: 0,
    })
    // Believed, the liar's older `since` wins rule 2 and the holder lets its container go.
    const believed = plan(view([honest, liar]))
    expect(believed.actions).toContainEqual({
      kind: 'release',
      workload: 'web',
      slot: 0,
      generation: generationOf(web),
      reason: 'lost',
    })
    const judged = plan(
      view(
        [honest, liar].map((n) => credibleNode(n, credenceOf([web], new Map([['web', DECLARED]]), OFFSET))),
      ),
    )
    expect(judged.actions.filter((a) => a.kind === 'release')).toEqual([])
    expect(judged.assignment.get('web/0')).toBe('honest')
  })

  test('a node judges itself as the others do: it gives up what they do not believe, and claims nothing they would not', () => {
    const credence = credenceOf([web], new Map([['web', DECLARED]]), OFFSET)
    const base = { workloads: [web], partialView: false, partialViewForMs: 0, credence }
    const mine = promise(web, 0, { wall: DECLARED.wall - OFFSET - 1, logical: 0 })
    const held = plan({ ...base, self: 'n1', nodes: [node('n1', { promises: [mine] })], nowWall: NOW })
    expect(held.actions[0]).toEqual({
      kind: 'release',
      workload: 'web',
      slot: 0,
      generation: generationOf(web),
      reason: 'lost',
    })
    const behind = plan({ ...base, self: 'n1', nodes: [node('n1')], nowWall: DECLARED.wall - OFFSET - 1 })
    expect(behind.actions.filter((a) => a.kind === 'claim')).toEqual([])
    const right = plan({ ...base, self: 'n1', nodes: [node('n1')], nowWall: DECLARED.wall - OFFSET })
    expect(right.actions.filter((a) => a.kind === 'claim')).toHaveLength(8)
  })
})
