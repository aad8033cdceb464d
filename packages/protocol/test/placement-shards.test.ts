import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  generationOf,
  inScope,
  listenShards,
  type PlacementNode,
  type PlacementView,
  plan,
  shardAt,
  shardOf,
  slotKey,
  slotPosition,
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

// With ring shards a slot is decided and held only by the nodes of its shard and the next, and a
// node's state changes reach only the nodes whose shards are at most one from its own. These
// tests run every node's pass round after round, as placement-local.test.ts does.

interface Cluster {
  nodes: PlacementNode[]
  workloads: Workload[]
  shards: number
}

const slotShard = (c: Cluster, name: string, slot: number) => shardAt(slotPosition(name, slot), c.shards)

const viewFor = (c: Cluster, self: string, nodes = c.nodes): PlacementView => ({
  self,
  workloads: c.workloads,
  nodes,
  nowWall: 1_000_000,
  partialView: false,
  partialViewForMs: 0,
})

/** One round: every node plans on what its shards tell it; claims become running promises. */
function round(c: Cluster, n: number, scoped = true): { cluster: Cluster; claimed: string[] } {
  const claimed: string[] = []
  const nodes = c.nodes.map((self) => {
    const heard = scoped ? c.nodes.filter((x) => inScope(self.id, x.id, c.shards)) : c.nodes
    const { actions } = plan(viewFor(c, self.id, heard), { shards: c.shards })
    let promises = [...self.promises]
    for (const action of actions) {
      if (action.kind === 'release')
        promises = promises.filter((p) => !(p.workload === action.workload && p.slot === action.slot))
      if (action.kind === 'claim') {
        claimed.push(slotKey(action.workload, action.slot))
        const w = c.workloads.find((x) => x.name === action.workload) as Workload
        promises = [
          ...promises.filter((p) => !(p.workload === action.workload && p.slot === action.slot)),
          runningPromise(w, action.slot, n),
        ]
      }
    }
    return { ...self, promises }
  })
  return { cluster: { ...c, nodes }, claimed }
}

/** Clusters of 60-160 nodes in 4-8 shards, none of them empty. */
const cluster: fc.Arbitrary<Cluster> = fc
  .record({
    size: fc.integer({ min: 60, max: 160 }),
    shards: fc.integer({ min: 4, max: 8 }),
    cpus: fc.array(fc.constantFrom(300, 1000, 4000), { minLength: 1, maxLength: 3 }),
    specs: fc.array(
      fc.record({ perNode: fc.integer({ min: 0, max: 4 }), cpu: fc.constantFrom(100, 250, 1000) }),
      { minLength: 1, maxLength: 3 },
    ),
    prefix: fc.stringMatching(/^[a-z]{1,6}$/),
  })
  .map(({ size, shards, cpus, specs, prefix }) => ({
    shards,
    nodes: Array.from({ length: size }, (_, i) =>
      node(`${prefix}-${i}`, {
        capacity: { cpuMillis: cpus[i % cpus.length] as number, memoryBytes: 8 * GI },
      }),
    ),
    workloads: specs.map((spec, w) =>
      workload(`app-${w}`, {
        replicas: Math.max(1, Math.floor((spec.perNode * size) / 2)),
        resources: { cpuMillis: spec.cpu, memoryBytes: 64 * MI },
      }),
    ),
  }))
  .filter((c) => new Set(c.nodes.map((x) => shardOf(x.id, c.shards))).size === c.shards)

/** Runs rounds until nobody claims. */
function settle(start: Cluster, scoped = true): Cluster {
  let c = start
  let claims = 1
  for (let n = 1; claims > 0; n++) {
    expect(n, 'rounds before nobody claims').toBeLessThanOrEqual(40)
    const { cluster: next, claimed } = round(c, n, scoped)
    expect(new Set(claimed).size).toBe(claimed.length)
    claims = claimed.length
    c = next
    for (const x of c.nodes) expect(cpuUsed(c.workloads, x)).toBeLessThanOrEqual(x.capacity.cpuMillis)
  }
  return c
}

describe('ring shards', () => {
  test('a node hears the nodes of its own shard and of the shards on either side, both ways', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.string(), fc.string(), (shards, a, b) => {
        expect(inScope(a, b, shards)).toBe(inScope(b, a, shards))
        // Each hears what the other publishes (to its own shard's topic) exactly when in scope.
        expect(listenShards(b, shards).includes(shardOf(a, shards))).toBe(inScope(a, b, shards))
        expect(listenShards(a, shards).includes(shardOf(b, shards))).toBe(inScope(a, b, shards))
      }),
    )
  })

  test('from in-scope states alone: no slot claimed twice, no node over-commits, a slot stays free only when its two shards are full, and each holder may hold it', () => {
    fc.assert(
      fc.property(cluster, (start) => {
        const c = settle(start)
        const mayHold = (x: PlacementNode, workload: string, slot: number) => {
          const k = slotShard(c, workload, slot)
          return [k, (k + 1) % c.shards].includes(shardOf(x.id, c.shards))
        }
        for (const x of c.nodes) for (const p of x.promises) expect(mayHold(x, p.workload, p.slot)).toBe(true)
        expectHeldOnceOrNoRoom(c, (x, w, slot) => mayHold(x, w.name, slot))
      }),
      { numRuns: 15 },
    )
  })

  test('a node decides alike whether it hears every node or only those in scope', () => {
    fc.assert(
      fc.property(cluster, fc.nat(1000), (start, pick) => {
        // Half placed: some slots held, some free, so both kinds of decision are exercised.
        const { cluster: c } = round(start, 1)
        const self = c.nodes[pick % c.nodes.length] as PlacementNode
        const all = plan(viewFor(c, self.id), { shards: c.shards })
        const scoped = plan(
          viewFor(
            c,
            self.id,
            c.nodes.filter((x) => inScope(self.id, x.id, c.shards)),
          ),
          { shards: c.shards },
        )
        expect(scoped.actions).toStrictEqual(all.actions)
        expect(scoped.unschedulable).toStrictEqual(all.unschedulable)
      }),
      { numRuns: 40 },
    )
  })

  test('a rolling update replaces at most maxUnavailable slots per shard at a time, and finishes', () => {
    const shards = 4
    const v1 = workload('web', { replicas: 80, update: { maxUnavailable: 1 } })
    const nodes = Array.from({ length: 48 }, (_, i) => node(`node-${i}`))
    let c: Cluster = settle({ nodes, workloads: [v1], shards })
    const v2 = { ...v1, image: 'img:2' }
    c = { ...c, workloads: [v2] }
    let rounds = 0
    for (let n = 50; rounds < 200; n++, rounds++) {
      const { cluster: next, claimed } = round(c, n)
      const perShard = new Map<number, number>()
      for (const key of claimed) {
        const k = slotShard(c, 'web', Number(key.split('/')[1]))
        perShard.set(k, (perShard.get(k) ?? 0) + 1)
      }
      for (const count of perShard.values()) expect(count).toBeLessThanOrEqual(1)
      c = next
      if (claimed.length === 0) break
    }
    for (const x of c.nodes) for (const p of x.promises) expect(p.generation).toBe(generationOf(v2))
    expect(c.nodes.flatMap((x) => x.promises)).toHaveLength(80)
  })
})
