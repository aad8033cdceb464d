import fc from 'fast-check'
import { expect, test } from 'vitest'
import {
  generationOf,
  type PlacementConfig,
  type PlacementNode,
  type PlacementView,
  plan,
  type Refusal,
  type Unschedulable,
  type Workload,
} from '../src/index.js'
import { GI, MI, node, runningPromise, workload } from './placement-builders.js'
import { type Cluster, clusterOf, view } from './placement-cluster.js'

// The exact pass (every slot in one pass, up to `planLocallyAbove` nodes) and the pass slot by
// slot (above it) share their rules: on one view they must decide every node's own promises
// alike, and explain a slot no node can take in the same words. Where they differ by design (which
// node a free slot goes to, the pace of a rolling update) is left out.

fc.configureGlobal({ numRuns: Number(process.env.PLACEMENT_RUNS ?? 100) })

const EXACT: Partial<PlacementConfig> = { planLocallyAbove: Number.POSITIVE_INFINITY }
const SLOT_BY_SLOT: Partial<PlacementConfig> = { planLocallyAbove: 0 }

/** The cluster with every promise of a declared workload at its current generation: no update runs. */
const current = (c: Cluster): Cluster => {
  const generations = new Map(c.workloads.map((w) => [w.name, generationOf(w)]))
  return {
    ...c,
    nodes: c.nodes.map((n) => ({
      ...n,
      promises: n.promises.map((p) => ({ ...p, generation: generations.get(p.workload) ?? p.generation })),
    })),
  }
}

test('both passes release, start and keep the same promises of every node', () => {
  const seen = new Set<string>()
  fc.assert(
    fc.property(clusterOf('medium'), fc.boolean(), fc.nat(59_999), (raw, partialView, partialViewForMs) => {
      const c = current(raw)
      for (const node of c.nodes) {
        const v = view(c, node.id, { partialView, partialViewForMs })
        const own = (config: Partial<PlacementConfig>) =>
          plan(v, config).actions.filter((action) => action.kind !== 'claim')
        const exact = own(EXACT)
        expect(own(SLOT_BY_SLOT), node.id).toStrictEqual(exact)
        for (const action of exact) seen.add(action.kind === 'release' ? action.reason : action.kind)
      }
    }),
  )
  // The clusters above did reach every decision.
  for (const decision of ['start', 'keep', 'lost', 'deleted', 'scaled-down', 'drained', 'ineligible'])
    expect(seen, decision).toContain(decision)
})

// Clusters where some slots fit nowhere, for every reason rule 6 names: constraints no node
// carries, draining nodes, refusals (a node's latest counts), and room short of cpu, memory or
// both together; with 1 to 12 nodes or 33 to 40, on both sides of the default `planLocallyAbove`
// (32).

const NAMES = ['api', 'db', 'log', 'web']
const REASONS = ['image not found', 'crash loop', 'port taken']

const blockedNode = fc.record(
  {
    zone: fc.constantFrom(undefined, 'a', 'b'),
    draining: fc.oneof(
      { arbitrary: fc.constant(false), weight: 4 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
    cpu: fc.constantFrom(0, 500, 1000, 2000, 4000),
    memory: fc.constantFrom(0, 256 * MI, GI, 3 * GI, 8 * GI),
    refusals: fc.array(
      fc.record({ workload: fc.nat(3), reason: fc.constantFrom(...REASONS), at: fc.nat(3) }),
      {
        maxLength: 3,
      },
    ),
  },
  { noNullPrototype: true },
)

const blockedWorkload = fc.record(
  {
    global: fc.oneof(
      { arbitrary: fc.constant(false), weight: 3 },
      { arbitrary: fc.constant(true), weight: 1 },
    ),
    replicas: fc.nat(6),
    cpu: fc.constantFrom(250, 1000, 1500, 3000),
    memory: fc.constantFrom(128 * MI, GI, 1536 * MI, 6 * GI),
    constraint: fc.constantFrom('', '', 'zone=a', 'zone=z'),
  },
  { noNullPrototype: true },
)

const blocked: fc.Arbitrary<Cluster> = fc
  .record(
    {
      nodes: fc.oneof(
        fc.array(blockedNode, { minLength: 1, maxLength: 12 }),
        fc.array(blockedNode, { minLength: 33, maxLength: 40 }),
      ),
      workloads: fc.array(blockedWorkload, { minLength: 1, maxLength: NAMES.length }),
    },
    { noNullPrototype: true },
  )
  .map(({ nodes, workloads }) => {
    const specs = workloads.map((w, i) => {
      const [key, value] = w.constraint.split('=')
      return workload(NAMES[i] as string, {
        mode: w.global ? 'global' : 'replicated',
        replicas: w.global ? 0 : w.replicas,
        resources: { cpuMillis: w.cpu, memoryBytes: w.memory },
        constraints: key && value ? { [key]: value } : {},
      })
    })
    const placementNodes = nodes.map(
      (n, i): PlacementNode => ({
        id: `n${String(i).padStart(2, '0')}`,
        labels: n.zone ? { zone: n.zone } : {},
        capacity: { cpuMillis: n.cpu, memoryBytes: n.memory },
        draining: n.draining,
        promises: [],
        refusals: n.refusals.flatMap((r): Refusal[] => {
          const spec = specs[r.workload % specs.length] as Workload
          return [
            {
              workload: spec.name,
              generation: generationOf(spec),
              reason: r.reason,
              at: { wall: r.at, logical: 0 },
            },
          ]
        }),
      }),
    )
    return settle({ nodes: placementNodes, workloads: specs })
  })

/**
 * The cluster once every slot that fits somewhere runs there, as the exact pass places it: then
 * every promise is its slot's holder, and what is left fits nowhere in either pass.
 */
function settle(c: Cluster): Cluster {
  const p = plan(view(c, (c.nodes[0] as PlacementNode).id), EXACT)
  const specs = new Map(c.workloads.map((w) => [w.name, w]))
  const nodes = c.nodes.map((n) => ({ ...n, promises: [...n.promises] }))
  for (const key of p.buckets.placed) {
    const node = nodes.find((n) => n.id === p.assignment.get(key)) as PlacementNode
    const [name, slot] = key.includes('@') ? [key.slice(0, key.indexOf('@')), 0] : key.split('/')
    node.promises.push(runningPromise(specs.get(name as string) as Workload, Number(slot), 1))
  }
  return { ...c, nodes }
}

const order = (a: Unschedulable, b: Unschedulable) =>
  a.workload.localeCompare(b.workload) || a.slot - b.slot || (a.node ?? '').localeCompare(b.node ?? '')

test('a slot no node can take is reported once, in the same words, below and above 32 nodes', () => {
  const seen = new Set<string>()
  const property = fc.property(blocked, (c) => {
    const exact = plan(view(c, (c.nodes[0] as PlacementNode).id), EXACT)
    expect(exact.buckets.placed).toStrictEqual([]) // settled: nothing more fits anywhere
    // Slot by slot, each node reports its share; together they report every slot once.
    const reported = c.nodes.flatMap((n) => plan(view(c, n.id), SLOT_BY_SLOT).unschedulable)
    expect([...reported].sort(order)).toStrictEqual([...exact.unschedulable].sort(order))
    // And `plan` itself, which picks the pass by the number of nodes, says the same.
    const v: PlacementView = view(c, (c.nodes.at(-1) as PlacementNode).id)
    if (c.nodes.length <= 32) expect(plan(v).unschedulable).toStrictEqual(exact.unschedulable)
    for (const u of exact.unschedulable)
      for (const reason of u.reasons) seen.add(`${c.nodes.length > 32 ? 'large' : 'small'}: ${kind(reason)}`)
  })
  // New clusters every run, and a fixed set that is known to reach every wording: from random
  // clusters alone, a CI run once saw no large cluster short of CPU, and the check below failed.
  fc.assert(property)
  fc.assert(property, { seed: COVERAGE_SEED, numRuns: 100 })
  // The clusters above did reach every wording, in small and large clusters alike.
  for (const size of ['small', 'large'])
    for (const wording of ['matches', 'draining', 'refused', 'cpu', 'memory', 'both', 'needs'])
      expect(seen, `${size}: ${wording}`).toContain(`${size}: ${wording}`)
})

/** A seed whose 100 clusters reach every wording of an unschedulable slot, small and large. */
const COVERAGE_SEED = 1

function kind(reason: string): string {
  if (reason.startsWith('no node matches')) return 'matches'
  if (reason.endsWith('draining')) return 'draining'
  if (reason.includes(' refused: ')) return 'refused'
  if (reason.includes(', needs ')) return 'needs'
  if (reason.startsWith('no node has both')) return 'both'
  if (reason.endsWith(' cpu free')) return 'cpu'
  if (reason.endsWith(' memory free')) return 'memory'
  return reason
}

test('a draining node keeps a slot no other node can take, and neither pass calls it unschedulable', () => {
  const db = workload('db', { resources: { cpuMillis: 3000, memoryBytes: GI } })
  const nodes = Array.from({ length: 40 }, (_, i) =>
    node(`n${String(i).padStart(2, '0')}`, { capacity: { cpuMillis: 1000, memoryBytes: 8 * GI } }),
  )
  nodes[7] = { ...(nodes[7] as PlacementNode), draining: true, promises: [runningPromise(db, 0, 1)] }
  const c: Cluster = { nodes, workloads: [db] }
  const exact = plan(view(c, 'n07'), EXACT)
  expect(exact.buckets['drain-blocked']).toStrictEqual(['db/0'])
  expect(exact.unschedulable).toStrictEqual([])
  expect(exact.actions).toStrictEqual([{ kind: 'keep', workload: 'db', slot: 0 }])
  const slotBySlot = c.nodes.map((n) => plan(view(c, n.id), SLOT_BY_SLOT))
  expect(slotBySlot.flatMap((p) => p.buckets['drain-blocked'])).toStrictEqual(['db/0'])
  expect(slotBySlot.flatMap((p) => p.unschedulable)).toStrictEqual([])
  expect(slotBySlot[7]?.actions).toStrictEqual(exact.actions)
})
