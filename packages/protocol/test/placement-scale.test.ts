import { expect, test } from 'vitest'
import { generationOf, type PlacementNode, plan, slotKey, type Workload } from '../src/index.js'

// A scaling check, not a benchmark: the time is printed, never asserted.

const MI = 2 ** 20
const GI = 2 ** 30

function workload(name: string, replicas: number, constraints: Record<string, string> = {}): Workload {
  return {
    name,
    image: `registry.example/${name}:1`,
    env: {},
    mode: 'replicated',
    replicas,
    resources: { cpuMillis: 250, memoryBytes: 256 * MI },
    ports: [],
    constraints,
    restart: { policy: 'always', maxRetries: 5 },
    update: { maxUnavailable: 1 },
    labels: {},
  }
}

const nodes = (held: (i: number) => PlacementNode['promises']): PlacementNode[] =>
  Array.from({ length: 1000 }, (_, i) => ({
    id: `12D3KooW${String(i).padStart(6, '0')}`,
    labels: { zone: ['a', 'b', 'c'][i % 3] as string },
    capacity: { cpuMillis: 16_000, memoryBytes: 64 * GI },
    draining: i % 97 === 0,
    promises: held(i),
    refusals: [],
  }))

// 10 workloads x 1000 replicas = 10 000 slots; two are pinned to a zone.
const workloads = Array.from({ length: 10 }, (_, w) =>
  workload(`app-${w}`, 1000, w < 2 ? { zone: ['a', 'b'][w] as string } : {}),
)

function timed(label: string, view: Parameters<typeof plan>[0], local = false) {
  const started = performance.now()
  // The exact pass is what clusters up to `planLocallyAbove` nodes run; here it is forced.
  const result = plan(view, local ? {} : { planLocallyAbove: Number.POSITIVE_INFINITY })
  const ms = performance.now() - started
  console.log(`plan() over 1000 nodes x 10000 slots, ${label}: ${ms.toFixed(0)} ms`)
  return result
}

test('in a cluster of 1000, each node plans only its share of 10000 free slots', () => {
  const base = { workloads, nowWall: 1_000_000, partialView: false, partialViewForMs: 0 }
  const all = nodes(() => [])
  const claims = new Set<string>()
  const started = performance.now()
  for (const self of all.slice(0, 50)) {
    const { actions } = plan({ ...base, self: self.id, nodes: all })
    for (const action of actions) {
      expect(action.kind).toBe('claim')
      claims.add(slotKey(action.workload, action.slot))
    }
    // About ten slots each, never a large share.
    expect(actions.length).toBeLessThan(100)
  }
  const ms = (performance.now() - started) / 50
  console.log(`plan() per slot over 1000 nodes x 10000 slots, all free: ${ms.toFixed(1)} ms per node`)
  expect(claims.size).toBeGreaterThan(200)
})

test('plan() handles 1000 nodes and 10000 slots', () => {
  const base = { workloads, nowWall: 1_000_000, partialView: false, partialViewForMs: 0 }

  const empty = timed('all slots free', { ...base, self: '12D3KooW000001', nodes: nodes(() => []) })
  expect(empty.assignment.size).toBe(10_000)
  expect(empty.unschedulable).toStrictEqual([])

  // Half the slots already run; the rest are free.
  const held = (i: number) =>
    workloads.flatMap((w) =>
      Array.from({ length: 5 }, (_, k) => i * 5 + k)
        .filter((slot) => slot < w.replicas / 2 && i % 97 !== 0)
        .map((slot) => ({
          workload: w.name,
          slot,
          generation: generationOf(w),
          phase: 'running' as const,
          since: { wall: 1, logical: 0 },
          ready: true,
          endpoints: [],
        })),
    )
  const half = timed('half held', { ...base, self: '12D3KooW000001', nodes: nodes(held) })
  expect(half.assignment.size).toBe(10_000)
  expect(half.buckets.kept.length).toBeGreaterThan(4000)
})
