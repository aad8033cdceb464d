import fc from 'fast-check'
import { expect, test } from 'vitest'
import {
  DEFAULT_PLACEMENT_CONFIG,
  generationOf,
  globalSlotKey,
  type PlacementNode,
  plan,
  type SelfAction,
  type SlotPromise,
  slotKey,
  type Workload,
} from '../src/index.js'
import { node, workload } from './placement-builders.js'
import { BOTH_PASSES, type Cluster, cluster, NOW, view } from './placement-cluster.js'

// Rule 5's exception: a claim starts before the settle delay ends only when its node may hold the
// slot and no other node of the view could claim it (a global slot, or constraints and refusals
// that keep every other node off, drained or not), and then it always does; such starts never give
// a slot two holders.

fc.configureGlobal({ numRuns: Number(process.env.PLACEMENT_RUNS ?? 100) })

const SETTLE = DEFAULT_PLACEMENT_CONFIG.settleMs

const specOf = (c: Cluster, name: string) => c.workloads.find((w) => w.name === name)

/** Whether `n` matches `spec` and does not drain: it keeps a slot it holds (rules 7 and 9). */
const keeps = (n: PlacementNode, spec: Workload) =>
  !n.draining && Object.entries(spec.constraints).every(([k, v]) => n.labels[k] === v)

/** Whether `n` may claim a slot of `spec` now or once undrained: a rival for the settle delay. */
const mayRival = (n: PlacementNode, spec: Workload) =>
  Object.entries(spec.constraints).every(([k, v]) => n.labels[k] === v) &&
  !n.refusals.some((r) => r.workload === spec.name && r.generation === generationOf(spec))

/** Whether `n` may take a new slot of `spec`, capacity aside, from the rules' statement. */
const mayHold = (n: PlacementNode, spec: Workload) =>
  keeps(n, spec) && !n.refusals.some((r) => r.workload === spec.name && r.generation === generationOf(spec))

const isStart = (a: SelfAction): a is Extract<SelfAction, { kind: 'start' }> => a.kind === 'start'

/** The cluster with every claim younger than the settle delay, a global one on its slot 0. */
const young = (c: Cluster): Cluster => ({
  ...c,
  nodes: c.nodes.map((n) => ({
    ...n,
    promises: n.promises.map((p) =>
      p.phase !== 'claimed'
        ? p
        : {
            ...p,
            slot: specOf(c, p.workload)?.mode === 'global' ? 0 : p.slot,
            since: { ...p.since, wall: NOW - (p.since.wall % SETTLE) },
          },
    ),
  })),
})

test.each(BOTH_PASSES)(
  '%s: a young claim starts at once exactly when no other node may take its slot',
  (_, config) => {
    let early = 0
    let waiting = 0
    fc.assert(
      fc.property(cluster, (raw) => {
        const c = young(raw)
        for (const self of c.nodes) {
          const p = plan(view(c, self.id), config)
          for (const promise of self.promises) {
            const spec = specOf(c, promise.workload)
            if (
              promise.phase !== 'claimed' ||
              spec === undefined ||
              promise.generation !== generationOf(spec)
            )
              continue
            if (promise.since.wall <= NOW - SETTLE) continue
            // Two promises of one node for one slot (the generator makes them; no node does) aside.
            if (
              self.promises.filter((q) => q.workload === promise.workload && q.slot === promise.slot).length >
              1
            )
              continue
            const decided = p.actions.filter(
              (a) => a.workload === promise.workload && a.slot === promise.slot,
            )
            if (decided.some((a) => a.kind === 'release')) continue
            const sole =
              keeps(self, spec) &&
              (spec.mode === 'global' || c.nodes.every((other) => other === self || !mayRival(other, spec)))
            const starts = decided.filter(isStart)
            if (sole) {
              expect(starts, `${self.id} ${promise.workload}/${promise.slot}`).toStrictEqual([
                {
                  kind: 'start',
                  workload: spec.name,
                  slot: promise.slot,
                  generation: promise.generation,
                  unsettled: true,
                },
              ])
              early++
            } else {
              expect(starts, `${self.id} ${promise.workload}/${promise.slot}`).toStrictEqual([])
              waiting++
            }
          }
          // A start after the settle delay is an ordinary one.
          for (const start of p.actions.filter(isStart)) {
            const held = self.promises.filter((q) => q.workload === start.workload && q.slot === start.slot)
            if (held.length === 1 && (held[0] as SlotPromise).since.wall <= NOW - SETTLE)
              expect(start.unsettled).toBeUndefined()
          }
        }
      }),
    )
    // The clusters above reached both cases.
    expect(early).toBeGreaterThan(0)
    expect(waiting).toBeGreaterThan(0)
  },
)

test.each(BOTH_PASSES)(
  '%s: nodes that claim at once, each seeing the others drain or not at random, start no slot early twice',
  (_, config) => {
    fc.assert(
      fc.property(cluster, fc.array(fc.boolean(), { minLength: 900, maxLength: 900 }), (c, flips) => {
        // Each node's view has its own state as it is and every other node's draining flag as
        // it may be out of date (drain is switched at any time); no claim made now has reached
        // another node yet. Each claims what its view gives it, then plans again at once.
        const since = { wall: NOW, logical: 0 }
        const startedBy = new Map<string, string>()
        c.nodes.forEach((self, s) => {
          const seen: Cluster = {
            ...c,
            nodes: c.nodes.map((n, o) =>
              n === self ? n : { ...n, draining: flips[s * 30 + o] ? !n.draining : n.draining },
            ),
          }
          const claims = plan(view(seen, self.id), config)
            .actions.filter((a) => a.kind === 'claim')
            .map((a): SlotPromise => ({ ...a, phase: 'claimed', since, ready: false, endpoints: [] }))
          const mine: Cluster = {
            ...seen,
            nodes: seen.nodes.map((n) => (n === self ? { ...n, promises: [...n.promises, ...claims] } : n)),
          }
          for (const start of plan(view(mine, self.id), config).actions.filter(isStart)) {
            if (!start.unsettled) continue
            const global = specOf(c, start.workload)?.mode === 'global'
            const key = global ? globalSlotKey(start.workload, self.id) : slotKey(start.workload, start.slot)
            expect(
              startedBy.get(key),
              `${key} started early by ${startedBy.get(key)} and ${self.id}`,
            ).toBeUndefined()
            startedBy.set(key, self.id)
            // Nor does any node that may hold the slot claim it already (a draining or no longer
            // matching holder hands it over by rules 7 and 9, as it would after the delay).
            const spec = specOf(c, start.workload) as Workload
            for (const other of c.nodes) {
              if (other === self || global || !mayHold(other, spec)) continue
              const rival = other.promises.find(
                (q) =>
                  q.workload === start.workload &&
                  q.slot === start.slot &&
                  (q.phase === 'claimed' || q.phase === 'starting' || q.phase === 'running'),
              )
              expect(rival, `${key}: ${self.id} starts early while ${other.id} claims it`).toBeUndefined()
            }
          }
        })
      }),
    )
  },
)

test.each(BOTH_PASSES)(
  '%s: a rival claim the early start could not see loses to it while the rival settles',
  (_, config) => {
    // The rival's view has the early start's `starting` promise (published at once); whatever the
    // age of its own claim, it releases it rather than starting.
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.nat(SETTLE - 1),
        fc.integer({ min: -SETTLE, max: SETTLE }),
        (size, ageMs, skew) => {
          const web = workload('web', { replicas: 1 })
          const nodes = Array.from({ length: size }, (_, i) => node(`n${i}`))
          const early: SlotPromise = {
            workload: 'web',
            slot: 0,
            generation: generationOf(web),
            phase: 'starting',
            since: { wall: NOW - ageMs, logical: 0 },
            ready: false,
            endpoints: [],
          }
          const rival: SlotPromise = {
            ...early,
            phase: 'claimed',
            since: { wall: NOW - ageMs + skew, logical: 0 },
          }
          ;(nodes[0] as PlacementNode).promises = [early]
          ;(nodes[size - 1] as PlacementNode).promises = [rival]
          const v = {
            self: `n${size - 1}`,
            workloads: [web],
            nodes,
            nowWall: NOW,
            partialView: false,
            partialViewForMs: 0,
          }
          expect(plan(v, config).actions).toStrictEqual([
            { kind: 'release', workload: 'web', slot: 0, generation: expect.any(String), reason: 'lost' },
          ])
        },
      ),
    )
  },
)

test('a global slot and a slot only one node may take start at once; a slot with a rival candidate settles', () => {
  const agent = workload('agent', { mode: 'global', replicas: 0 })
  const db = workload('db', { replicas: 1, constraints: { disk: 'ssd' } })
  const web = workload('web', { replicas: 1 })
  const young = (w: Workload): SlotPromise => ({
    workload: w.name,
    slot: 0,
    generation: generationOf(w),
    phase: 'claimed',
    since: { wall: NOW - 1, logical: 0 },
    ready: false,
    endpoints: [],
  })
  const n1 = node('n1', { labels: { disk: 'ssd' }, promises: [young(agent), young(db), young(web)] })
  const n2 = node('n2')
  const v = {
    self: 'n1',
    workloads: [agent, db, web],
    nodes: [n1, n2],
    nowWall: NOW,
    partialView: false,
    partialViewForMs: 0,
  }
  expect(
    plan(v)
      .actions.filter(isStart)
      .map((a) => a.workload),
  ).toStrictEqual(['agent', 'db'])
  // Once n2 may take db too, db waits out the settle delay like web.
  n2.labels = { disk: 'ssd' }
  expect(
    plan(v)
      .actions.filter(isStart)
      .map((a) => a.workload),
  ).toStrictEqual(['agent'])
})
