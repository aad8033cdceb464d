import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  compareClaims,
  generationOf,
  globalSlotKey,
  type Hlc,
  hlcCompare,
  hlcTick,
  isClaimant,
  type PlacementConfig,
  type PlacementNode,
  type PlacementView,
  type Plan,
  plan,
  type SelfAction,
  type SlotPromise,
  slotKey,
  type Workload,
  winners,
} from '../src/index.js'
import { claimedPromise } from './placement-builders.js'
import { type Cluster, cluster, NOW, view } from './placement-cluster.js'

// Property tests of the placement rules over random clusters. fast-check prints the seed and the
// shrunk counterexample on failure; rerun one with `fc.assert(..., { seed, path })`.

// PLACEMENT_RUNS=5000 runs each property longer, for a soak after changing the rules.
fc.configureGlobal({ numRuns: Number(process.env.PLACEMENT_RUNS ?? 100) })

const specOf = (c: Cluster, name: string) => c.workloads.find((w) => w.name === name)

/** The slot key an action of `node` is about. */
function keyOf(c: Cluster, node: string, action: { workload: string; slot: number }): string {
  return specOf(c, action.workload)?.mode === 'global' && action.slot === 0
    ? globalSlotKey(action.workload, node)
    : slotKey(action.workload, action.slot)
}

const claimsOf = (c: Cluster, node: string, p: Plan) =>
  p.actions.filter((a) => a.kind === 'claim').map((a) => keyOf(c, node, a))

function plansOf(c: Cluster, config: Partial<PlacementConfig>, more: Partial<PlacementView> = {}) {
  return new Map(c.nodes.map((n) => [n.id, plan(view(c, n.id, more), config)]))
}

/**
 * Every node carries out its own plan: claims become claimed promises, starts start, releases go.
 * A new claim's `since` comes from a hybrid logical clock that has seen every promise in the view,
 * as a node's clock has.
 */
function apply(c: Cluster, plans: Map<string, Plan>, { starts = true } = {}): Cluster {
  let seen: Hlc = { wall: 0, logical: 0 }
  for (const n of c.nodes) for (const p of n.promises) if (hlcCompare(p.since, seen) > 0) seen = p.since
  const since = hlcTick(seen, NOW)
  const nodes = c.nodes.map((n) => {
    const promises = n.promises.map((p) => ({ ...p }))
    // A node may hold two promises for a slot (an old generation and its successor): a release names one.
    const find = (a: SelfAction) =>
      promises.findIndex(
        (p) =>
          p.workload === a.workload &&
          p.slot === a.slot &&
          (a.kind !== 'release' || p.generation === a.generation),
      )
    for (const action of (plans.get(n.id) as Plan).actions) {
      if (action.kind === 'release') {
        for (let i = find(action); i !== -1; i = find(action)) promises.splice(i, 1)
      } else if (action.kind === 'start' && starts) {
        const p = promises.find(
          (q) =>
            q.workload === action.workload &&
            q.slot === action.slot &&
            q.generation === action.generation &&
            q.phase === 'claimed',
        )
        if (p) p.phase = 'starting'
      } else if (action.kind === 'claim') {
        promises.push(claimedPromise(action, since))
      }
    }
    return { ...n, promises }
  })
  return { ...c, nodes }
}

/** Whether `node` may hold a slot of `spec` at all (labels and draining). */
const welcomes = (node: PlacementNode, spec: Workload) =>
  !node.draining && Object.entries(spec.constraints).every(([k, v]) => node.labels[k] === v)

const refused = (node: PlacementNode, spec: Workload) =>
  node.refusals.some((r) => r.workload === spec.name && r.generation === generationOf(spec))

/** Whether a winner's key is a slot the declarations still have. */
function isLive(c: Cluster, key: string, promise: SlotPromise): boolean {
  const spec = specOf(c, promise.workload)
  if (spec === undefined) return false
  if (spec.mode === 'global') return key.includes('@')
  return promise.slot < spec.replicas
}

/**
 * What the plan has reserved on each node, computed from the rules' statement rather than from
 * the implementation: live winners (except those releasing because their node no longer matches)
 * plus every assignment.
 */
function used(c: Cluster, p: Plan) {
  const pairs = new Map<string, string>() // `${key}|${node}` -> workload
  for (const [key, win] of winners(view(c, ''))) {
    const spec = specOf(c, win.promise.workload)
    const node = c.nodes.find((n) => n.id === win.node) as PlacementNode
    if (!spec || !isLive(c, key, win.promise)) continue
    if (!Object.entries(spec.constraints).every(([k, v]) => node.labels[k] === v)) continue
    pairs.set(`${key}|${win.node}`, spec.name)
    // A holder at an older generation keeps its room while a successor at the workload's starts
    // (rule 8): both count until one is released. The successor is the best claimant at the
    // workload's generation on a node its constraints allow; the others are released.
    if (win.promise.generation === generationOf(spec)) continue
    let successor: { node: string; promise: SlotPromise } | undefined
    for (const n of c.nodes) {
      if (spec.mode === 'global' && n.id !== win.node) continue
      if (!Object.entries(spec.constraints).every(([k, v]) => n.labels[k] === v)) continue
      for (const q of n.promises) {
        const claim = { node: n.id, promise: q }
        if (
          q.workload === spec.name &&
          q.slot === win.promise.slot &&
          isClaimant(q) &&
          q.generation === generationOf(spec) &&
          (successor === undefined || compareClaims(claim, successor) < 0)
        )
          successor = claim
      }
    }
    if (successor !== undefined)
      pairs.set(
        successor.node === win.node ? `${key}|${successor.node}|successor` : `${key}|${successor.node}`,
        spec.name,
      )
  }
  for (const [key, node] of p.assignment) pairs.set(`${key}|${node}`, key.split(/[/@]/)[0] as string)
  const totals = new Map<string, { cpu: number; memory: number }>()
  for (const [pair, name] of pairs) {
    const node = pair.split('|')[1] as string
    const spec = specOf(c, name) as Workload
    const t = totals.get(node) ?? { cpu: 0, memory: 0 }
    t.cpu += spec.resources.cpuMillis
    t.memory += spec.resources.memoryBytes
    totals.set(node, t)
  }
  return (node: string) => totals.get(node) ?? { cpu: 0, memory: 0 }
}

const fits = (node: PlacementNode, spec: Workload, use: { cpu: number; memory: number }) =>
  use.cpu + spec.resources.cpuMillis <= node.capacity.cpuMillis &&
  use.memory + spec.resources.memoryBytes <= node.capacity.memoryBytes

const configs: [string, Partial<PlacementConfig>][] = [
  ['every eligible node considered', {}],
  ['hash ring, 2 candidates', { considerAllUpTo: 0, candidates: 2 }],
]

test('winners: one per slot, the best claimant by phase, then age, then node id', () => {
  fc.assert(
    fc.property(cluster, (c) => {
      const won = winners(view(c, 'n00'))
      for (const [key, win] of won) {
        expect(isClaimant(win.promise)).toBe(true)
        const node = c.nodes.find((n) => n.id === win.node) as PlacementNode
        expect(node.promises).toContain(win.promise)
        for (const other of c.nodes) {
          for (const p of other.promises) {
            if (!isClaimant(p) || keyOf(c, other.id, p) !== key) continue
            expect(compareClaims(win, { node: other.id, promise: p })).toBeLessThanOrEqual(0)
          }
        }
      }
      // Every claimed slot has its winner.
      for (const n of c.nodes)
        for (const p of n.promises) if (isClaimant(p)) expect(won.has(keyOf(c, n.id, p))).toBe(true)
    }),
  )
})

describe.each(configs)('placement rules (%s)', (_, config) => {
  test('equal views give equal plans, and each placed slot is claimed by exactly its node', () => {
    fc.assert(
      fc.property(cluster, (c) => {
        const plans = plansOf(c, config)
        const first = plans.get('n00') as Plan
        const claimedBy = new Map<string, string>()
        for (const [id, p] of plans) {
          expect(p.assignment).toStrictEqual(first.assignment)
          expect(p.unschedulable).toStrictEqual(first.unschedulable)
          expect(p.buckets).toStrictEqual(first.buckets)
          const expected = first.buckets.placed.filter((key) => first.assignment.get(key) === id)
          expect(claimsOf(c, id, p).sort()).toStrictEqual([...expected].sort())
          for (const key of claimsOf(c, id, p)) {
            expect(claimedBy.get(key)).toBeUndefined()
            claimedBy.set(key, id)
          }
        }
        expect(claimedBy.size).toBe(first.buckets.placed.length)
      }),
    )
  })

  test('the order of nodes, promises and workloads in the view does not matter', () => {
    fc.assert(
      fc.property(cluster, fc.nat(29), (c, selfIndex) => {
        const self = (c.nodes[selfIndex % c.nodes.length] as PlacementNode).id
        const shuffled: Cluster = {
          workloads: [...c.workloads].reverse(),
          nodes: [...c.nodes].reverse().map((n) => ({ ...n, promises: [...n.promises].reverse() })),
        }
        expect(plan(view(shuffled, self), config)).toStrictEqual(plan(view(c, self), config))
      }),
    )
  })

  test('no node that takes a new slot is over-committed by winners plus placements', () => {
    fc.assert(
      fc.property(cluster, (c) => {
        const p = plan(view(c, 'n00'), config)
        const use = used(c, p)
        const receiving = new Set(p.buckets.placed.map((key) => p.assignment.get(key)))
        for (const node of c.nodes) {
          if (!receiving.has(node.id)) continue
          expect(use(node.id).cpu).toBeLessThanOrEqual(node.capacity.cpuMillis)
          expect(use(node.id).memory).toBeLessThanOrEqual(node.capacity.memoryBytes)
        }
      }),
    )
  })

  test('a slot whose winner may keep it is never reassigned (sticky)', () => {
    fc.assert(
      fc.property(cluster, (c) => {
        const p = plan(view(c, 'n00'), config)
        // A slot being updated moves to its successor at the new generation (rule 8).
        const moved = new Set([...p.buckets.moved, ...p.buckets.updating])
        for (const [key, win] of winners(view(c, 'n00'))) {
          const spec = specOf(c, win.promise.workload)
          const node = c.nodes.find((n) => n.id === win.node) as PlacementNode
          if (!spec || !isLive(c, key, win.promise) || !welcomes(node, spec) || moved.has(key)) continue
          expect(p.assignment.get(key)).toBe(win.node)
        }
      }),
    )
  })

  test('every declared slot is assigned or unschedulable, and unschedulable only when nothing fits', () => {
    fc.assert(
      fc.property(cluster, (c) => {
        const p = plan(view(c, 'n00'), config)
        const use = used(c, p)
        const unschedulable = new Map(
          p.unschedulable.map((u) => [
            u.node ? globalSlotKey(u.workload, u.node) : slotKey(u.workload, u.slot),
            u,
          ]),
        )
        expect(unschedulable.size).toBe(p.unschedulable.length)
        for (const spec of c.workloads) {
          if (spec.mode === 'global') continue
          for (let slot = 0; slot < spec.replicas; slot++) {
            const key = slotKey(spec.name, slot)
            expect(p.assignment.has(key) !== unschedulable.has(key)).toBe(true)
            const u = unschedulable.get(key)
            if (u === undefined) continue
            expect(u.reasons.length).toBeGreaterThan(0)
            for (const node of c.nodes) {
              if (welcomes(node, spec) && !refused(node, spec))
                expect(fits(node, spec, use(node.id))).toBe(false)
            }
          }
          const assigned = [...p.assignment.keys()].filter((k) => k.startsWith(`${spec.name}/`))
          const unplaced = p.unschedulable.filter((u) => u.workload === spec.name)
          expect(assigned.length + unplaced.length).toBe(spec.replicas)
        }
      }),
    )
  })

  test('a global workload has exactly one slot per eligible node, and none elsewhere', () => {
    fc.assert(
      fc.property(cluster, (c) => {
        const p = plan(view(c, 'n00'), config)
        for (const spec of c.workloads) {
          if (spec.mode !== 'global') continue
          for (const node of c.nodes) {
            const key = globalSlotKey(spec.name, node.id)
            const unplaced = p.unschedulable.filter((u) => u.workload === spec.name && u.node === node.id)
            if (welcomes(node, spec)) {
              expect(Number(p.assignment.get(key) === node.id) + unplaced.length).toBe(1)
            } else {
              expect(p.assignment.has(key)).toBe(false)
              expect(unplaced).toHaveLength(0)
            }
          }
          const keys = [...p.assignment.keys()].filter((k) => k.startsWith(`${spec.name}@`))
          for (const key of keys) expect(key).toBe(globalSlotKey(spec.name, p.assignment.get(key) as string))
        }
      }),
    )
  })

  test('applying a plan and planning again changes nothing (twice equals once)', () => {
    fc.assert(
      fc.property(cluster, (c) => {
        const plans = plansOf(c, config)
        const first = plans.get('n00') as Plan
        const freesRoom =
          first.buckets.moved.length > 0 ||
          [...plans.values()].some((p) => p.actions.some((a) => a.kind === 'release'))
        // Claims and releases carried out; starts are left out, since a container that starts
        // changes the view (its phase), and that is progress rather than a repeat.
        const next = apply(c, plans, { starts: false })
        const again = plansOf(next, config)
        const second = again.get('n00') as Plan
        for (const [key, node] of first.assignment) expect(second.assignment.get(key)).toBe(node)
        for (const [id, p] of again) {
          const claimedBefore = new Set(claimsOf(c, id, plans.get(id) as Plan))
          for (const key of claimsOf(next, id, p)) expect(claimedBefore.has(key)).toBe(false)
          // A claim just carried out starts at once when its node is the slot's sole candidate.
          const starts = (q: Plan) => q.actions.filter((a) => a.kind === 'start' && !a.unsettled)
          expect(starts(p)).toStrictEqual(starts(plans.get(id) as Plan))
          // Capacity freed by a release (a slot moving away, an old generation replaced) is only
          // seen in the next pass, so with no release there is nothing left to do at all.
          if (!freesRoom) {
            expect(p.actions.filter((a) => a.kind === 'claim' || a.kind === 'release')).toStrictEqual([])
          }
        }
        if (!freesRoom) expect(second.unschedulable).toStrictEqual(first.unschedulable)
      }),
    )
  })

  test('losing a node moves only the slots it held (and slots that were unschedulable)', () => {
    fc.assert(
      fc.property(cluster, fc.nat(29), (c, victimIndex) => {
        // Converge first: carry out plans until nothing but keeps and starts is left.
        let state = c
        let plans = plansOf(state, config)
        for (let round = 0; round < 6; round++) {
          const busy = [...plans.values()].some((p) =>
            p.actions.some((a) => a.kind === 'claim' || a.kind === 'release'),
          )
          if (!busy) break
          state = apply(state, plans)
          plans = plansOf(state, config)
        }
        expect(
          [...plans.values()].flatMap((p) =>
            p.actions.filter((a) => a.kind === 'claim' || a.kind === 'release'),
          ),
        ).toStrictEqual([])
        const before = plans.get('n00') as Plan
        const victim = state.nodes[victimIndex % state.nodes.length] as PlacementNode
        const rest: Cluster = { ...state, nodes: state.nodes.filter((n) => n !== victim) }
        const after = plan(view(rest, rest.nodes[0]?.id ?? 'none'), config)
        const held = new Set(victim.promises.map((p) => keyOf(state, victim.id, p)))
        const wasUnschedulable = new Set(
          before.unschedulable.map((u) =>
            u.node ? globalSlotKey(u.workload, u.node) : slotKey(u.workload, u.slot),
          ),
        )
        for (const key of new Set([...before.assignment.keys(), ...after.assignment.keys()])) {
          if (before.assignment.get(key) === after.assignment.get(key)) continue
          const explained =
            before.assignment.get(key) === victim.id || held.has(key) || wasUnschedulable.has(key)
          expect(explained, `slot ${key} moved`).toBe(true)
        }
      }),
    )
  })

  test('a node with a partial view claims nothing by default; with `minority: takeover`, during the grace, then acts normally', () => {
    fc.assert(
      fc.property(cluster, fc.nat(29), fc.nat(59_999), fc.boolean(), (raw, selfIndex, forMs, takeover) => {
        const c = takeover
          ? {
              ...raw,
              workloads: raw.workloads.map((w) => ({ ...w, partition: { minority: 'takeover' as const } })),
            }
          : raw
        const self = (c.nodes[selfIndex % c.nodes.length] as PlacementNode).id
        const normal = plan(view(c, self), config)
        const cut = plan(view(c, self, { partialView: true, partialViewForMs: forMs }), config)
        expect(cut.actions.filter((a) => a.kind === 'claim')).toStrictEqual([])
        expect(cut.actions.filter((a) => a.kind === 'release' && a.reason === 'updating')).toStrictEqual([])
        // Its own work starts as it would otherwise; an old-generation claim that the update
        // would have replaced starts as it is instead.
        const starts = (p: Plan) => p.actions.filter((a) => a.kind === 'start').map((a) => keyOf(c, self, a))
        for (const key of starts(normal)) expect(starts(cut)).toContain(key)
        for (const key of starts(cut))
          if (!starts(normal).includes(key)) expect(normal.buckets.updating).toContain(key)
        expect(cut.assignment).toStrictEqual(normal.assignment)
        const late = plan(view(c, self, { partialView: true, partialViewForMs: 60_000 + forMs }), config)
        if (takeover) expect(late).toStrictEqual(normal)
        else expect(late.actions).toStrictEqual(cut.actions)
      }),
    )
  })

  test('with `isolated: stop`, a node with a partial view releases its own slots after stopAfter, and claims nothing', () => {
    fc.assert(
      fc.property(cluster, fc.nat(29), fc.nat(59_999), (raw, selfIndex, forMs) => {
        const c = {
          ...raw,
          workloads: raw.workloads.map((w) => ({
            ...w,
            partition: { isolated: 'stop' as const, stopAfterMs: 30_000 },
          })),
        }
        const self = (c.nodes[selfIndex % c.nodes.length] as PlacementNode).id
        const partial = plan(view(c, self, { partialView: true, partialViewForMs: forMs }), config)
        expect(partial.actions.filter((a) => a.kind === 'claim')).toStrictEqual([])
        const partitioned = partial.actions.filter((a) => a.kind === 'release' && a.reason === 'partitioned')
        if (forMs < 30_000) expect(partitioned).toStrictEqual([])
        else {
          // Every slot it still holds is given up; a stray or lost one goes for its own reason.
          expect(partial.actions.filter((a) => a.kind === 'start' || a.kind === 'keep')).toStrictEqual([])
        }
        // A whole view stops nothing.
        const whole = plan(view(c, self, { partialView: false, partialViewForMs: 0 }), config)
        expect(whole.actions.filter((a) => a.kind === 'release' && a.reason === 'partitioned')).toStrictEqual(
          [],
        )
      }),
    )
  })
})
