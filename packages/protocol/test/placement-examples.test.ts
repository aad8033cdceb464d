import { describe, expect, test } from 'vitest'
import {
  DEFAULT_PLACEMENT_CONFIG,
  generationOf,
  type Hlc,
  hlcCompare,
  hlcTick,
  type PlacementNode,
  type PlacementView,
  type Plan,
  plan,
  type SelfAction,
  type SlotPromise,
  type Workload,
} from '../src/index.js'
import { claimedPromise, GI, MI, node, workload } from './placement-builders.js'

// Worked examples of the placement rules, and small simulations of drains and rolling updates in
// which every node plans from the same view and carries out its own actions.

const SETTLE = DEFAULT_PLACEMENT_CONFIG.settleMs

function promise(spec: Workload, slot: number, overrides: Partial<SlotPromise> = {}): SlotPromise {
  return {
    workload: spec.name,
    slot,
    generation: generationOf(spec),
    phase: 'running',
    since: { wall: 100, logical: 0 },
    ready: true,
    endpoints: [],
    ...overrides,
  }
}

interface World {
  nodes: PlacementNode[]
  workloads: Workload[]
  now: number
}

const viewOf = (world: World, self: string, more: Partial<PlacementView> = {}): PlacementView => ({
  self,
  workloads: world.workloads,
  nodes: world.nodes,
  nowWall: world.now,
  partialView: false,
  partialViewForMs: 0,
  ...more,
})

const planFor = (world: World, self: string, more: Partial<PlacementView> = {}) =>
  plan(viewOf(world, self, more))

const actionsOf = (p: Plan, kind: SelfAction['kind']) => p.actions.filter((a) => a.kind === kind)

/** Every node plans from the same view and carries out its own actions. */
function step(world: World): Map<string, Plan> {
  let seen: Hlc = { wall: 0, logical: 0 }
  for (const n of world.nodes) for (const p of n.promises) if (hlcCompare(p.since, seen) > 0) seen = p.since
  const since = hlcTick(seen, world.now)
  const plans = new Map(world.nodes.map((n) => [n.id, planFor(world, n.id)]))
  for (const n of world.nodes) {
    for (const action of (plans.get(n.id) as Plan).actions) {
      const at = n.promises.findIndex((p) => p.workload === action.workload && p.slot === action.slot)
      if (action.kind === 'release' && at !== -1) n.promises.splice(at, 1)
      if (action.kind === 'start' && at !== -1) (n.promises[at] as SlotPromise).phase = 'starting'
      if (action.kind === 'claim') {
        n.promises.push(claimedPromise(action, since))
      }
    }
  }
  return plans
}

/** The container runtime: what was starting is now running and ready. */
function containersComeUp(world: World): void {
  for (const n of world.nodes) {
    for (const p of n.promises) {
      if (p.phase === 'starting') {
        p.phase = 'running'
        p.ready = true
      }
    }
  }
}

/** Slots of `spec` served by a running, ready container of any generation. */
function available(world: World, spec: Workload): number {
  let count = 0
  for (let slot = 0; slot < spec.replicas; slot++) {
    const served = world.nodes.some((n) =>
      n.promises.some((p) => p.workload === spec.name && p.slot === slot && p.phase === 'running' && p.ready),
    )
    if (served) count++
  }
  return count
}

describe('claim, settle, start', () => {
  test('a free slot is claimed, and started only after the settle delay', () => {
    const web = workload('web')
    // n2 might claim the slot too (alone, n1 would start at once: placement-sole.test.ts).
    const world: World = {
      nodes: [node('n1'), node('n2', { capacity: { cpuMillis: 0, memoryBytes: 0 } })],
      workloads: [web],
      now: 5000,
    }
    expect(planFor(world, 'n1').actions).toStrictEqual([
      { kind: 'claim', workload: 'web', slot: 0, generation: generationOf(web), because: { rule: 'free' } },
    ])
    step(world)
    world.now += SETTLE - 1
    expect(planFor(world, 'n1').actions).toStrictEqual([{ kind: 'keep', workload: 'web', slot: 0 }])
    world.now += 1
    expect(planFor(world, 'n1').actions).toStrictEqual([
      { kind: 'start', workload: 'web', slot: 0, generation: generationOf(web) },
    ])
  })

  test('of two claims the older wins and the other withdraws; a running slot beats an older claim', () => {
    const web = workload('web')
    const older = promise(web, 0, { phase: 'claimed', since: { wall: 10, logical: 0 } })
    const newer = promise(web, 0, { phase: 'claimed', since: { wall: 10, logical: 1 } })
    const world: World = {
      nodes: [node('n1', { promises: [newer] }), node('n2', { promises: [older] })],
      workloads: [web],
      now: 5000,
    }
    expect(planFor(world, 'n1').actions).toStrictEqual([
      { kind: 'release', workload: 'web', slot: 0, generation: expect.any(String), reason: 'lost' },
    ])
    expect(actionsOf(planFor(world, 'n2'), 'start')).toHaveLength(1)
    expect(planFor(world, 'n1').buckets.conflicting).toStrictEqual(['web/0'])

    ;(world.nodes[0] as PlacementNode).promises = [{ ...newer, phase: 'running' }]
    expect(planFor(world, 'n1').actions).toStrictEqual([{ kind: 'keep', workload: 'web', slot: 0 }])
    expect(planFor(world, 'n2').actions).toStrictEqual([
      { kind: 'release', workload: 'web', slot: 0, generation: expect.any(String), reason: 'lost' },
    ])
  })

  test('equal claims go to the smaller node id', () => {
    const web = workload('web')
    const claim = promise(web, 0, { phase: 'claimed' })
    const world: World = {
      nodes: [node('n2', { promises: [claim] }), node('n1', { promises: [claim] })],
      workloads: [web],
      now: 5000,
    }
    expect(planFor(world, 'n1').assignment.get('web/0')).toBe('n1')
    expect(actionsOf(planFor(world, 'n2'), 'release')).toHaveLength(1)
  })
})

describe('placing free slots', () => {
  test('replicas spread evenly over identical nodes', () => {
    const web = workload('web', { replicas: 6 })
    const world: World = { nodes: ['n1', 'n2', 'n3'].map((id) => node(id)), workloads: [web], now: 0 }
    const counts = new Map<string, number>()
    for (const id of planFor(world, 'n1').assignment.values()) counts.set(id, (counts.get(id) ?? 0) + 1)
    expect([...counts.values()]).toStrictEqual([2, 2, 2])
  })

  test('on the hash ring, replicas still spread over a large cluster', () => {
    const web = workload('web', { replicas: 100 })
    const nodes = Array.from({ length: 200 }, (_, i) => node(`n${i}`))
    // The exact pass, which large clusters leave for per-slot decisions (placement-local.test.ts).
    const p = plan(viewOf({ nodes, workloads: [web], now: 0 }, 'n0'), {
      planLocallyAbove: Number.POSITIVE_INFINITY,
    })
    const counts = new Map<string, number>()
    for (const id of p.assignment.values()) counts.set(id, (counts.get(id) ?? 0) + 1)
    expect(p.assignment.size).toBe(100)
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2)
  })

  test('a new node does not take running work', () => {
    const web = workload('web', { replicas: 2 })
    const world: World = {
      nodes: [node('n1', { promises: [promise(web, 0), promise(web, 1)] }), node('n2')],
      workloads: [web],
      now: 5000,
    }
    const p = planFor(world, 'n2')
    expect(p.actions).toStrictEqual([])
    expect([...p.assignment.values()]).toStrictEqual(['n1', 'n1'])
  })

  test('constraints and capacity decide where a slot may go', () => {
    const db = workload('db', {
      replicas: 2,
      constraints: { disk: 'ssd' },
      resources: { cpuMillis: 3000, memoryBytes: GI },
    })
    const world: World = {
      nodes: [node('n1', { labels: { disk: 'ssd' } }), node('n2', { labels: { disk: 'hdd' } })],
      workloads: [db],
      now: 0,
    }
    const p = planFor(world, 'n1')
    expect(p.assignment.get('db/0')).toBe('n1')
    expect(p.unschedulable).toStrictEqual([{ workload: 'db', slot: 1, reasons: ['no node has 3 cpu free'] }])
  })
})

describe('unschedulable slots say why', () => {
  const world = (spec: Workload, nodes: PlacementNode[]): World => ({ nodes, workloads: [spec], now: 0 })
  const reasons = (w: World) => planFor(w, 'n1').unschedulable.map((u) => u.reasons)

  test('cpu, memory, or both', () => {
    const big = workload('big', { resources: { cpuMillis: 4500, memoryBytes: 512 * MI } })
    expect(reasons(world(big, [node('n1'), node('n2')]))).toStrictEqual([['no node has 4500m cpu free']])
    const fat = workload('fat', { resources: { cpuMillis: 100, memoryBytes: 16 * GI } })
    expect(reasons(world(fat, [node('n1')]))).toStrictEqual([['no node has 16Gi memory free']])
    const odd = workload('odd', { resources: { cpuMillis: 3000, memoryBytes: 6 * GI } })
    const nodes = [
      node('n1', { capacity: { cpuMillis: 4000, memoryBytes: 2 * GI } }),
      node('n2', { capacity: { cpuMillis: 1000, memoryBytes: 8 * GI } }),
    ]
    expect(reasons(world(odd, nodes))).toStrictEqual([['no node has both 3 cpu and 6Gi memory free']])
  })

  test('constraints nobody matches', () => {
    const zoned = workload('zoned', { constraints: { zone: 'b', disk: 'ssd' } })
    expect(reasons(world(zoned, [node('n1', { labels: { zone: 'a' } })]))).toStrictEqual([
      ['no node matches disk=ssd, zone=b'],
    ])
  })

  test('refusals, draining nodes, and what is left', () => {
    const web = workload('web')
    const refusal = (reason: string) => ({
      workload: 'web',
      generation: generationOf(web),
      reason,
      at: { wall: 1, logical: 0 },
    })
    const nodes = [
      node('n1', { refusals: [refusal('image not found')] }),
      node('n2', { refusals: [refusal('image not found')] }),
      node('n3', { refusals: [refusal('crash loop')] }),
      node('n4', { draining: true }),
      node('n5', { capacity: { cpuMillis: 50, memoryBytes: 8 * GI } }),
    ]
    expect(reasons(world(web, nodes))).toStrictEqual([
      [
        'n4 is draining',
        'n1, n2 refused: image not found',
        'n3 refused: crash loop',
        'no node has 100m cpu free',
      ],
    ])
    // A refusal of another generation does not count.
    const old = { ...refusal('image not found'), generation: 'old000000000' }
    expect(reasons(world(web, [node('n1', { refusals: [old] })]))).toStrictEqual([])
  })

  test('a global workload says so per node', () => {
    const agent = workload('agent', {
      mode: 'global',
      replicas: 0,
      resources: { cpuMillis: 500, memoryBytes: GI },
    })
    const p = planFor(
      world(agent, [node('n1'), node('n2', { capacity: { cpuMillis: 200, memoryBytes: 512 * MI } })]),
      'n1',
    )
    expect(p.assignment).toStrictEqual(new Map([['agent@n1', 'n1']]))
    expect(p.unschedulable).toStrictEqual([
      {
        workload: 'agent',
        slot: 0,
        node: 'n2',
        reasons: ['n2 has 200m cpu free, needs 500m', 'n2 has 512Mi memory free, needs 1Gi'],
      },
    ])
  })
})

describe('releases', () => {
  test('scaled down, deleted, and no longer eligible', () => {
    const web = workload('web', { replicas: 1, constraints: { zone: 'a' } })
    const gone = workload('gone')
    const world: World = {
      nodes: [
        node('n1', { labels: { zone: 'a' }, promises: [promise(web, 0), promise(web, 1), promise(gone, 0)] }),
        node('n2', { labels: { zone: 'a' } }),
      ],
      workloads: [web],
      now: 5000,
    }
    expect(planFor(world, 'n1').actions).toStrictEqual([
      { kind: 'release', workload: 'gone', slot: 0, generation: expect.any(String), reason: 'deleted' },
      { kind: 'release', workload: 'web', slot: 1, generation: expect.any(String), reason: 'scaled-down' },
      { kind: 'keep', workload: 'web', slot: 0 },
    ])
    // n1 leaves zone a: it lets go of the slot, and n2 takes it over in the same pass.
    ;(world.nodes[0] as PlacementNode).labels = { zone: 'b' }
    const p1 = planFor(world, 'n1')
    expect(actionsOf(p1, 'release')).toContainEqual({
      kind: 'release',
      workload: 'web',
      slot: 0,
      generation: expect.any(String),
      reason: 'ineligible',
    })
    expect(p1.assignment.get('web/0')).toBe('n2')
    expect(actionsOf(planFor(world, 'n2'), 'claim')).toHaveLength(1)
  })
})

test('drain: a successor takes over, and the draining node lets go once it runs', () => {
  const web = workload('web', { replicas: 2 })
  const world: World = {
    nodes: [
      node('n1', { draining: true, promises: [promise(web, 0), promise(web, 1)] }),
      node('n2'),
      node('n3'),
    ],
    workloads: [web],
    now: 5000,
  }
  const n1 = world.nodes[0] as PlacementNode

  // Successors are placed and claim; n1 keeps serving meanwhile.
  const first = step(world)
  expect(actionsOf(first.get('n1') as Plan, 'release')).toStrictEqual([])
  const successors = [first.get('n2'), first.get('n3')].flatMap((p) => actionsOf(p as Plan, 'claim'))
  expect(successors.map((a) => a.slot).sort()).toStrictEqual([0, 1])
  for (const claim of successors) expect(claim).toMatchObject({ because: { rule: 'drain', of: 'n1' } })
  expect(available(world, web)).toBe(2)

  // The successors' claims are not lost to n1's running promises: they settle and start.
  world.now += SETTLE
  const second = step(world)
  for (const id of ['n2', 'n3']) {
    expect(actionsOf(second.get(id) as Plan, 'release')).toStrictEqual([])
    expect(actionsOf(second.get(id) as Plan, 'start')).toHaveLength(1)
  }
  expect(n1.promises).toHaveLength(2)

  // Once the successors run, n1 releases both slots as drained.
  containersComeUp(world)
  world.now += SETTLE
  const third = step(world)
  expect(actionsOf(third.get('n1') as Plan, 'release')).toStrictEqual([
    { kind: 'release', workload: 'web', slot: 0, generation: expect.any(String), reason: 'drained' },
    { kind: 'release', workload: 'web', slot: 1, generation: expect.any(String), reason: 'drained' },
  ])
  expect(n1.promises).toStrictEqual([])
  expect(available(world, web)).toBe(2)
  const after = planFor(world, 'n1')
  expect([...after.assignment.values()].sort()).toStrictEqual(['n2', 'n3'])
  expect(after.actions).toStrictEqual([])
})

test('drain with nowhere to go: the draining node keeps the slot', () => {
  const web = workload('web', { resources: { cpuMillis: 3000, memoryBytes: GI } })
  const world: World = {
    nodes: [
      node('n1', { draining: true, promises: [promise(web, 0)] }),
      node('n2', { capacity: { cpuMillis: 1000, memoryBytes: GI } }),
    ],
    workloads: [web],
    now: 5000,
  }
  const p = planFor(world, 'n1')
  expect(p.actions).toStrictEqual([{ kind: 'keep', workload: 'web', slot: 0 }])
  expect(p.buckets['drain-blocked']).toStrictEqual(['web/0'])
  expect(p.assignment.get('web/0')).toBe('n1')
})

describe('rolling update', () => {
  function rollout(maxUnavailable: number) {
    const v1 = workload('web', { replicas: 5, update: { maxUnavailable } })
    const world: World = {
      nodes: [
        node('n1', { promises: [promise(v1, 0), promise(v1, 3)] }),
        node('n2', { promises: [promise(v1, 1), promise(v1, 4)] }),
        node('n3', { promises: [promise(v1, 2)] }),
      ],
      workloads: [v1],
      now: 5000,
    }
    const v2 = { ...v1, image: 'img:2' }
    world.workloads = [v2]
    const updatedOf = () =>
      world.nodes.flatMap((n) =>
        n.promises.filter((p) => p.generation === generationOf(v2) && p.phase === 'running' && p.ready),
      ).length
    let steps = 0
    let mostDown = 0
    while (updatedOf() < 5) {
      steps++
      expect(steps, 'the rollout finishes').toBeLessThan(40)
      step(world)
      mostDown = Math.max(mostDown, 5 - available(world, v2))
      expect(5 - available(world, v2)).toBeLessThanOrEqual(maxUnavailable)
      world.now += SETTLE
      containersComeUp(world)
    }
    // Every slot stayed on its node: an update replaces in place.
    expect(world.nodes.map((n) => n.promises.map((p) => p.slot).sort())).toStrictEqual([[0, 3], [1, 4], [2]])
    return { mostDown, steps }
  }

  test('maxUnavailable 1: one slot at a time, in slot order', () => {
    const { mostDown } = rollout(1)
    expect(mostDown).toBe(1)
  })

  test('maxUnavailable 2: two at a time, and sooner', () => {
    const one = rollout(1)
    const two = rollout(2)
    expect(two.mostDown).toBe(2)
    expect(two.steps).toBeLessThan(one.steps)
  })

  test('the lowest old slots go first, and each holder replaces its own', () => {
    const v1 = workload('web', { replicas: 3 })
    const world: World = {
      nodes: [
        node('n1', { promises: [promise(v1, 2)] }),
        node('n2', { promises: [promise(v1, 0), promise(v1, 1)] }),
      ],
      workloads: [{ ...v1, image: 'img:2' }],
      now: 5000,
    }
    const v2 = generationOf({ ...v1, image: 'img:2' })
    expect(planFor(world, 'n1').actions).toStrictEqual([{ kind: 'keep', workload: 'web', slot: 2 }])
    expect(planFor(world, 'n2').actions).toStrictEqual([
      { kind: 'release', workload: 'web', slot: 0, generation: expect.any(String), reason: 'updating' },
      { kind: 'keep', workload: 'web', slot: 1 },
      {
        kind: 'claim',
        workload: 'web',
        slot: 0,
        generation: v2,
        because: { rule: 'update', wave: 1 },
        rollout: true,
      },
    ])
    expect(planFor(world, 'n1').buckets.outdated).toStrictEqual(['web/1', 'web/2'])
  })

  test('a bad new generation takes down one slot at most, then the update halts', () => {
    const v1 = workload('web', { replicas: 3 })
    const v2 = { ...v1, image: 'img:broken' }
    const world: World = {
      nodes: [
        node('n1', { promises: [promise(v1, 0)] }),
        node('n2', { promises: [promise(v1, 1)] }),
        node('n3', { promises: [promise(v1, 2)] }),
      ],
      workloads: [v2],
      now: 5000,
    }
    for (let round = 0; round < 12; round++) {
      step(world)
      // The runtime: the new image never pulls, so the node refuses this generation.
      for (const n of world.nodes) {
        for (const p of n.promises.filter(
          (q) => q.generation === generationOf(v2) && q.phase === 'starting',
        )) {
          n.promises.splice(n.promises.indexOf(p), 1)
          n.refusals.push({
            workload: 'web',
            generation: p.generation,
            reason: 'image not found',
            at: { wall: world.now, logical: 0 },
          })
        }
      }
      expect(available(world, v2)).toBeGreaterThanOrEqual(2)
      world.now += SETTLE
    }
    const p = planFor(world, 'n1')
    expect(p.unschedulable).toStrictEqual([
      { workload: 'web', slot: 0, reasons: ['n1, n2, n3 refused: image not found'] },
    ])
    expect(p.buckets.outdated).toStrictEqual(['web/1', 'web/2'])
    expect(available(world, v2)).toBe(2)
  })
})

test('global workload: one slot per eligible node, released when the node drains or stops matching', () => {
  const agent = workload('agent', { mode: 'global', replicas: 0, constraints: { role: 'edge' } })
  const world: World = {
    nodes: [
      node('n1', { labels: { role: 'edge' }, promises: [promise(agent, 0)] }),
      node('n2', { labels: { role: 'edge' } }),
      node('n3', { labels: { role: 'core' }, promises: [promise(agent, 0)] }),
      node('n4', { labels: { role: 'edge' }, draining: true, promises: [promise(agent, 0)] }),
    ],
    workloads: [agent],
    now: 5000,
  }
  const p = planFor(world, 'n1')
  expect(p.assignment).toStrictEqual(
    new Map([
      ['agent@n1', 'n1'],
      ['agent@n2', 'n2'],
    ]),
  )
  expect(p.actions).toStrictEqual([{ kind: 'keep', workload: 'agent', slot: 0 }])
  expect(actionsOf(planFor(world, 'n2'), 'claim')).toStrictEqual([
    { kind: 'claim', workload: 'agent', slot: 0, generation: generationOf(agent), because: { rule: 'free' } },
  ])
  expect(planFor(world, 'n3').actions).toStrictEqual([
    { kind: 'release', workload: 'agent', slot: 0, generation: expect.any(String), reason: 'ineligible' },
  ])
  expect(planFor(world, 'n4').actions).toStrictEqual([
    { kind: 'release', workload: 'agent', slot: 0, generation: expect.any(String), reason: 'drained' },
  ])
})

test('partial view: a node cut off alone keeps its work and takes over nothing, however long it lasts', () => {
  const web = workload('web', { replicas: 4 })
  const world: World = { nodes: [node('n1', { promises: [promise(web, 0)] })], workloads: [web], now: 5000 }
  for (const forMs of [0, 30_000, 60_000, 3_600_000]) {
    const cut = planFor(world, 'n1', { partialView: true, partialViewForMs: forMs })
    expect(cut.actions).toStrictEqual([{ kind: 'keep', workload: 'web', slot: 0 }])
  }
})

test('partial view, `isolated: stop`: a node cut off alone stops its own copy after stopAfter', () => {
  const web = workload('web', { replicas: 4, partition: { isolated: 'stop', stopAfterMs: 10_000 } })
  const world: World = { nodes: [node('n1', { promises: [promise(web, 0)] })], workloads: [web], now: 5000 }
  expect(planFor(world, 'n1', { partialView: true, partialViewForMs: 9_999 }).actions).toStrictEqual([
    { kind: 'keep', workload: 'web', slot: 0 },
  ])
  expect(planFor(world, 'n1', { partialView: true, partialViewForMs: 10_000 }).actions).toStrictEqual([
    { kind: 'release', workload: 'web', slot: 0, generation: generationOf(web), reason: 'partitioned' },
  ])
})

test('partial view, `minority: takeover`: a node cut off alone takes over nothing until the grace ends', () => {
  const web = workload('web', { replicas: 4, partition: { minority: 'takeover' } })
  // n1 sees only itself; the nodes that ran slots 1 to 3 look dead from here.
  const world: World = { nodes: [node('n1', { promises: [promise(web, 0)] })], workloads: [web], now: 5000 }
  const cut = planFor(world, 'n1', { partialView: true, partialViewForMs: 30_000 })
  expect(cut.actions).toStrictEqual([{ kind: 'keep', workload: 'web', slot: 0 }])
  expect(cut.buckets.free).toStrictEqual(['web/1', 'web/2', 'web/3'])
  const late = planFor(world, 'n1', { partialView: true, partialViewForMs: 60_000 })
  expect(actionsOf(late, 'claim').map((a) => a.slot)).toStrictEqual([1, 2, 3])
})

describe('the rule a claim gives, in both passes', () => {
  const web = workload('web', { replicas: 4, update: { maxUnavailable: 2 } })
  const claimsOf = (world: World, self: string, local: boolean) =>
    plan(viewOf(world, self), local ? { planLocallyAbove: 0 } : {}).actions.flatMap((a) =>
      a.kind === 'claim' ? [{ slot: a.slot, because: a.because }] : [],
    )

  for (const local of [false, true]) {
    test(`${local ? 'slot by slot' : 'exact pass'}: free, drain of the holder, update wave k`, () => {
      const free: World = { nodes: [node('n1')], workloads: [web], now: 5000 }
      expect(claimsOf(free, 'n1', local).map((c) => c.because)).toStrictEqual(Array(4).fill({ rule: 'free' }))
      const drain: World = {
        nodes: [
          node('n1', {
            draining: true,
            promises: [promise(web, 0), promise(web, 1), promise(web, 2), promise(web, 3)],
          }),
          node('n2'),
        ],
        workloads: [web],
        now: 5000,
      }
      expect(claimsOf(drain, 'n2', local).map((c) => c.because)).toStrictEqual(
        Array(4).fill({ rule: 'drain', of: 'n1' }),
      )
      // Slots 2 and 3 make wave 2 of maxUnavailable 2; slots 0 and 1 already run the new generation.
      const v2 = { ...web, image: 'img:2' }
      const update: World = {
        nodes: [
          node('n1', {
            promises: [promise(v2, 0), promise(v2, 1), promise(web, 2), promise(web, 3)],
          }),
        ],
        workloads: [v2],
        now: 5000,
      }
      expect(claimsOf(update, 'n1', local)).toStrictEqual([
        { slot: 2, because: { rule: 'update', wave: 2 } },
        { slot: 3, because: { rule: 'update', wave: 2 } },
      ])
    })
  }
})
