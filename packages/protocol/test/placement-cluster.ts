import fc from 'fast-check'
import {
  generationOf,
  type PlacementConfig,
  type PlacementNode,
  type PlacementView,
  type Workload,
} from '../src/index.js'
import { GI, MI, workload } from './placement-builders.js'

// Random clusters for the property tests of the placement rules: nodes with labels, capacity and
// draining; workloads replicated and global, with constraints; promises of every phase, some for
// deleted workloads, past the replicas or at an old generation; refusals.

export const NOW = 10_000

/** The two planning passes, which must make the same decisions: the exact one, and slot by slot. */
export const BOTH_PASSES: [string, Partial<PlacementConfig>][] = [
  ['exact pass', { planLocallyAbove: Number.POSITIVE_INFINITY }],
  ['slot by slot', { planLocallyAbove: 0 }],
]
const NAMES = ['api', 'cache', 'cron', 'db', 'edge', 'log', 'queue', 'web']
export const OLD = 'old000000000'

export interface Cluster {
  nodes: PlacementNode[]
  workloads: Workload[]
}

const weighted = <T>(common: T, rare: T, odds = 5) =>
  fc.oneof({ arbitrary: fc.constant(common), weight: odds }, { arbitrary: fc.constant(rare), weight: 1 })

const rawNode = fc.record(
  {
    zone: fc.constantFrom(undefined, 'a', 'b', 'c'),
    disk: fc.constantFrom(undefined, 'ssd', 'hdd'),
    cpu: fc.constantFrom(0, 2000, 4000, 8000, 16_000, 32_000),
    memory: fc.constantFrom(0, 4 * GI, 16 * GI, 64 * GI),
    draining: weighted(false, true),
  },
  { noNullPrototype: true },
)

const rawWorkload = fc.record(
  {
    name: fc.constantFrom(...NAMES),
    global: weighted(false, true, 4),
    replicas: fc.nat(12),
    cpu: fc.constantFrom(100, 250, 500, 1000, 1000, 2000, 16_000),
    memory: fc.constantFrom(64 * MI, 512 * MI, 512 * MI, 2 * GI, 32 * GI),
    constraint: fc.constantFrom('', '', '', '', '', 'zone=a', 'zone=b', 'disk=ssd', 'zone=z'),
    image: fc.constantFrom('img:1', 'img:2'),
    maxUnavailable: fc.integer({ min: 1, max: 3 }),
  },
  { noNullPrototype: true },
)

const rawPromise = fc.record(
  {
    node: fc.nat(29),
    workload: fc.oneof({ arbitrary: fc.nat(7), weight: 8 }, { arbitrary: fc.constant(-1), weight: 1 }), // -1: deleted
    slot: fc.oneof(fc.nat(2), fc.nat(14)),
    current: weighted(true, false, 3),
    phase: fc.constantFrom('claimed', 'starting', 'running', 'running', 'failed', 'releasing'),
    wall: fc.nat(12_000),
    logical: fc.nat(2),
    ready: weighted(true, false, 3),
  },
  { noNullPrototype: true },
)

const rawRefusal = fc.record(
  {
    node: fc.nat(29),
    workload: fc.nat(NAMES.length - 1),
    current: fc.boolean(),
    reason: fc.constantFrom('image not found', 'crash loop', 'capacity gone'),
  },
  { noNullPrototype: true },
)

/** Clusters of up to 30 nodes and 80 promises; `size` 'medium' makes the larger ones common. */
export const clusterOf = (size?: fc.SizeForArbitrary): fc.Arbitrary<Cluster> =>
  fc
    .record(
      {
        nodes: fc.array(rawNode, { minLength: 1, maxLength: 30, size }),
        workloads: fc.uniqueArray(rawWorkload, { minLength: 1, maxLength: 8, selector: (w) => w.name, size }),
        promises: fc.array(rawPromise, { maxLength: 80, size }),
        refusals: fc.array(rawRefusal, { maxLength: 8, size }),
      },
      { noNullPrototype: true },
    )
    .map(({ nodes, workloads, promises, refusals }) => {
      const specs = workloads.map((w) => {
        const [key, value] = w.constraint.split('=')
        return workload(w.name, {
          image: w.image,
          mode: w.global ? 'global' : 'replicated',
          replicas: w.global ? 0 : w.replicas,
          resources: { cpuMillis: w.cpu, memoryBytes: w.memory },
          constraints: key && value ? { [key]: value } : {},
          update: { maxUnavailable: w.maxUnavailable },
        })
      })
      const placementNodes: PlacementNode[] = nodes.map((n, i) => ({
        id: `n${String(i).padStart(2, '0')}`,
        labels: { ...(n.zone ? { zone: n.zone } : {}), ...(n.disk ? { disk: n.disk } : {}) },
        capacity: { cpuMillis: n.cpu, memoryBytes: n.memory },
        draining: n.draining,
        promises: [],
        refusals: [],
      }))
      const at = (index: number) => placementNodes[index % placementNodes.length] as PlacementNode
      for (const p of promises) {
        const spec = p.workload === -1 ? undefined : specs[p.workload % specs.length]
        at(p.node).promises.push({
          workload: spec?.name ?? 'gone',
          slot: p.slot,
          generation: spec && p.current ? generationOf(spec) : OLD,
          phase: p.phase,
          since: { wall: p.wall, logical: p.logical },
          ready: p.ready,
          endpoints: [],
        })
      }
      for (const r of refusals) {
        const spec = specs[r.workload % specs.length] as Workload
        at(r.node).refusals.push({
          workload: spec.name,
          generation: r.current ? generationOf(spec) : OLD,
          reason: r.reason,
          at: { wall: 1, logical: 0 },
        })
      }
      return { nodes: placementNodes, workloads: specs }
    })

export const view = (c: Cluster, self: string, more: Partial<PlacementView> = {}): PlacementView => ({
  self,
  workloads: c.workloads,
  nodes: c.nodes,
  nowWall: NOW,
  partialView: false,
  partialViewForMs: 0,
  ...more,
})

export const cluster = clusterOf()
