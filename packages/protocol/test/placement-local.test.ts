import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  ClaimIndex,
  generationOf,
  type PlacementNode,
  type PlacementView,
  plan,
  slotKey,
  type Workload,
} from '../src/index.js'
import {
  cpuUsed,
  expectHeldOnceOrNoRoom,
  GI,
  MI,
  node,
  runningPromise,
  workload,
} from './placement-builders.js'

// Past 32 live nodes each node decides only the slots it can win, slot by slot. These tests run
// every node's pass on one shared view, round after round, carrying out the actions.

interface Cluster {
  nodes: PlacementNode[]
  workloads: Workload[]
}

const cluster: fc.Arbitrary<Cluster> = fc
  .record({
    size: fc.integer({ min: 33, max: 60 }),
    cpus: fc.array(fc.constantFrom(300, 1000, 4000), { minLength: 1, maxLength: 3 }),
    zoned: fc.boolean(),
    specs: fc.array(
      fc.record({ perNode: fc.integer({ min: 0, max: 4 }), cpu: fc.constantFrom(100, 250, 1000) }),
      {
        minLength: 1,
        maxLength: 3,
      },
    ),
    draining: fc.nat(3),
  })
  .map(({ size, cpus, zoned, specs, draining }) => ({
    nodes: Array.from({ length: size }, (_, i) =>
      node(`node-${i}`, {
        capacity: { cpuMillis: cpus[i % cpus.length] as number, memoryBytes: 8 * GI },
        labels: { zone: i % 2 === 0 ? 'a' : 'b' },
        draining: i < draining,
      }),
    ),
    workloads: specs.map((spec, w) =>
      workload(`app-${w}`, {
        replicas: Math.max(1, Math.floor((spec.perNode * size) / 2)),
        resources: { cpuMillis: spec.cpu, memoryBytes: 64 * MI },
        constraints: zoned && w === 0 ? { zone: 'a' } : {},
      }),
    ),
  }))

const viewFor = (c: Cluster, self: string, claims?: ClaimIndex): PlacementView => ({
  self,
  workloads: c.workloads,
  nodes: c.nodes,
  nowWall: 1_000_000,
  partialView: false,
  partialViewForMs: 0,
  ...(claims ? { claims } : {}),
})

/** One round: every node plans on the same view; claims become running promises, releases go. */
function round(c: Cluster, n: number): { cluster: Cluster; claimed: string[] } {
  const claimed: string[] = []
  const nodes = c.nodes.map((self) => {
    const { actions } = plan(viewFor(c, self.id))
    let promises = [...self.promises]
    for (const action of actions) {
      if (action.kind === 'release')
        promises = promises.filter((p) => !(p.workload === action.workload && p.slot === action.slot))
      if (action.kind === 'claim') {
        claimed.push(slotKey(action.workload, action.slot))
        const w = c.workloads.find((x) => x.name === action.workload) as Workload
        promises.push(runningPromise(w, action.slot, n))
      }
    }
    return { ...self, promises }
  })
  return { cluster: { ...c, nodes }, claimed }
}

describe('per-slot placement in a large cluster', () => {
  test('on equal views no slot is claimed twice, no node over-commits, and once nobody claims every slot that fits is placed', () => {
    fc.assert(
      fc.property(cluster, (start) => {
        // Rounds until nobody claims: a cluster packed nearly full places its last slots one
        // round at a time (a case drawn once in about 25 runs took 13 rounds).
        let c = start
        let claims = 1
        for (let n = 1; claims > 0; n++) {
          expect(n, 'rounds before nobody claims').toBeLessThanOrEqual(40)
          const { cluster: next, claimed } = round(c, n)
          expect(new Set(claimed).size).toBe(claimed.length)
          claims = claimed.length
          c = next
          for (const x of c.nodes) expect(cpuUsed(c.workloads, x)).toBeLessThanOrEqual(x.capacity.cpuMillis)
        }
        // Unplaced only if no node that may hold it has room.
        expectHeldOnceOrNoRoom(
          c,
          (x, w) => !x.draining && Object.entries(w.constraints).every(([k, v]) => x.labels[k] === v),
        )
      }),
      { numRuns: 20 },
    )
  })

  test('an index kept between passes decides as one built from the view', () => {
    fc.assert(
      fc.property(cluster, fc.nat(1000), (start, pick) => {
        const { cluster: c } = round(start, 1)
        const self = c.nodes[pick % c.nodes.length] as PlacementNode
        const kept = new ClaimIndex()
        // Built up in another order, with stale entries replaced and a departed node removed.
        for (const x of [...start.nodes].reverse()) if (x.id !== self.id) kept.set(x)
        kept.set(node('gone'))
        kept.delete('gone')
        for (const x of c.nodes) if (x.id !== self.id) kept.set(x)
        const a = plan(viewFor(c, self.id))
        const b = plan(viewFor(c, self.id, kept))
        expect(b.actions).toStrictEqual(a.actions)
        expect(b.unschedulable).toStrictEqual(a.unschedulable)
      }),
      { numRuns: 40 },
    )
  })

  test('an index kept between states holds what one built from the last states holds', () => {
    // Each node's next state changes some promises (a new object for the same slot), keeps
    // some, drops some, and may list them in another order.
    const next = (n: PlacementNode, change: number[]): PlacementNode => {
      const promises = n.promises.flatMap((p, i) => {
        const what = change[i % change.length] ?? 0
        return what === 0 ? [p] : what === 1 ? [{ ...p, ready: !p.ready }] : []
      })
      return { ...n, promises: (change[0] ?? 0) === 2 ? promises.reverse() : promises }
    }
    fc.assert(
      fc.property(cluster, fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1 }), (start, change) => {
        const placed = round(round(start, 1).cluster, 2).cluster
        const changed = placed.nodes.map((n) => next(n, change))
        const kept = new ClaimIndex()
        for (const nodes of [start.nodes, placed.nodes, changed]) for (const x of nodes) kept.set(x)
        const fresh = ClaimIndex.of(changed)
        for (const w of start.workloads)
          for (let slot = 0; slot < (w.mode === 'global' ? 1 : w.replicas); slot++) {
            const sorted = (index: ClaimIndex) =>
              index
                .promisesFor(w.name, slot)
                .map((e) => `${e.nodeId} ${JSON.stringify(e.promise)}`)
                .sort()
            expect(sorted(kept)).toStrictEqual(sorted(fresh))
          }
      }),
      { numRuns: 30 },
    )
  })

  test("a dead node's slots are taken by the nodes on their walks, each by one", () => {
    const web = workload('web', { replicas: 200 })
    let c: Cluster = { nodes: Array.from({ length: 50 }, (_, i) => node(`node-${i}`)), workloads: [web] }
    for (let n = 1; n <= 3; n++) c = round(c, n).cluster
    const victim = c.nodes.find((x) => x.promises.length > 0) as PlacementNode
    const lost = victim.promises.map((p) => slotKey(p.workload, p.slot))
    c = { ...c, nodes: c.nodes.filter((x) => x !== victim) }
    const { claimed } = round(c, 4)
    expect(claimed.sort()).toStrictEqual(lost.sort())
  })

  test('slots nobody can hold are reported once, by the node their walk starts at', () => {
    const big = workload('big', { replicas: 5, resources: { cpuMillis: 8000, memoryBytes: 64 * MI } })
    const c: Cluster = { nodes: Array.from({ length: 40 }, (_, i) => node(`node-${i}`)), workloads: [big] }
    const reports = c.nodes.flatMap((x) => plan(viewFor(c, x.id)).unschedulable)
    expect(reports.map((r) => r.slot).sort()).toStrictEqual([0, 1, 2, 3, 4])
    expect(reports[0]?.reasons).toStrictEqual(['no node has 8 cpu free'])
  })

  test('a rolling update goes in waves of maxUnavailable slots', () => {
    const v1 = workload('web', { replicas: 60, update: { maxUnavailable: 2 } })
    let c: Cluster = { nodes: Array.from({ length: 40 }, (_, i) => node(`node-${i}`)), workloads: [v1] }
    for (let n = 1; n <= 3; n++) c = round(c, n).cluster
    const v2 = { ...v1, image: 'img:2' }
    c = { ...c, workloads: [v2] }
    const updatedPerRound: number[] = []
    for (let n = 4; n < 40; n++) {
      const { cluster: next, claimed } = round(c, n)
      updatedPerRound.push(claimed.length)
      c = next
    }
    // Each round replaces the next wave: two slots, never more, until all 60 are done.
    expect(updatedPerRound.slice(0, 30)).toStrictEqual(Array(30).fill(2))
    for (const x of c.nodes) for (const p of x.promises) expect(p.generation).toBe(generationOf(v2))
  })
})
