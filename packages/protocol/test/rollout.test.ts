import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  generationOf,
  type PlacementConfig,
  type PlacementNode,
  plan,
  type SlotPromise,
  type Workload,
} from '../src/index.js'
import { node, workload } from './placement-builders.js'

// Rule 8 as every node carries it out, round after round on one shared view: a rollout goes in
// waves of `maxUnavailable`, a new slot counts only once it has been ready for the monitor, and
// a failure on probation halts the rollout everywhere. fast-check prints the seed on failure.

fc.configureGlobal({ numRuns: Number(process.env.PLACEMENT_RUNS ?? 100) })

interface Setup {
  nodes: number
  replicas: number
  maxUnavailable: number
  order: 'stop-first' | 'start-first'
  /** Rounds a new slot must stay ready before it counts. */
  monitorRounds: number
  /** Whether the new generation fails to start on node n0 (it runs on the others). */
  fails: boolean
  /** Room per node in slots: tight room forces a start-first update to go stop-first. */
  room: number
}

const setups: fc.Arbitrary<Setup> = fc.record(
  {
    nodes: fc.integer({ min: 1, max: 5 }),
    replicas: fc.integer({ min: 1, max: 9 }),
    maxUnavailable: fc.integer({ min: 1, max: 3 }),
    order: fc.constantFrom('stop-first' as const, 'start-first' as const),
    monitorRounds: fc.integer({ min: 0, max: 3 }),
    fails: fc.boolean(),
    room: fc.integer({ min: 2, max: 12 }),
  },
  { noNullPrototype: true },
)

/** Every node has room for its share of v1 and one more slot: a rollout can start everywhere. */
const roomy = (s: Setup) => s.room >= Math.ceil(s.replicas / s.nodes) + 1

const configs: [string, Partial<PlacementConfig>][] = [
  ['every eligible node considered', {}],
  ['hash ring, 2 candidates', { considerAllUpTo: 0, candidates: 2 }],
]

const ROUND_MS = 1000
const MONITOR_MS = 1000

interface Tracked {
  promise: SlotPromise
  /** Round the slot turned ready on probation. */
  readyAt?: number
}

/** A rollout from v1 to v2, every node planning on the same view each round. */
function rollout(setup: Setup, config: Partial<PlacementConfig>) {
  const v1 = workload('web', {
    replicas: setup.replicas,
    resources: { cpuMillis: 100, memoryBytes: 1 },
    update: {
      maxUnavailable: setup.maxUnavailable,
      monitorMs: setup.monitorRounds * MONITOR_MS,
      failureAction: 'pause',
      order: setup.order,
    },
  })
  const v2: Workload = { ...v1, image: 'img:2' }
  const [g1, g2] = [generationOf(v1), generationOf(v2)]
  const nodes: PlacementNode[] = Array.from({ length: setup.nodes }, (_, i) =>
    node(`n${i}`, { capacity: { cpuMillis: 100 * setup.room, memoryBytes: 2 ** 30 } }),
  )
  const held = new Map<string, Tracked[]>(nodes.map((n) => [n.id, []]))
  // Everything at v1 first, slot i on node i mod nodes (room permitting: over-full nodes shed).
  for (let slot = 0; slot < setup.replicas; slot++) {
    const id = `n${slot % setup.nodes}`
    held.get(id)?.push({
      promise: {
        workload: 'web',
        slot,
        generation: g1,
        phase: 'running',
        since: { wall: 1, logical: slot },
        ready: true,
        endpoints: [],
      },
    })
  }
  const rounds: { serving: number; servingOld: number; inFlight: number; halted: boolean }[] = []
  const firstClaim = new Map<number, number>()
  let clock = 10 * ROUND_MS
  for (let round = 0; round < 80; round++) {
    clock += ROUND_MS
    for (const n of nodes) n.promises = (held.get(n.id) ?? []).map((t) => t.promise)
    const plans = nodes.map((n) =>
      plan(
        { self: n.id, workloads: [v2], nodes, nowWall: clock, partialView: false, partialViewForMs: 0 },
        config,
      ),
    )
    nodes.forEach((n, i) => {
      let mine = held.get(n.id) ?? []
      for (const action of plans[i]?.actions ?? []) {
        if (action.kind === 'release')
          mine = mine.filter(
            (t) => !(t.promise.slot === action.slot && t.promise.generation === action.generation),
          )
        else if (action.kind === 'claim') {
          if (!firstClaim.has(action.slot) && action.generation === g2) firstClaim.set(action.slot, round)
          mine.push({
            promise: {
              workload: 'web',
              slot: action.slot,
              generation: action.generation,
              phase: 'claimed',
              since: { wall: clock, logical: round },
              ready: false,
              endpoints: [],
              ...(action.rollout ? { probation: true as const } : {}),
            },
          })
        } else if (action.kind === 'start') {
          const t = mine.find(
            (x) => x.promise.slot === action.slot && x.promise.generation === action.generation,
          )
          if (t === undefined) continue
          if (setup.fails && action.generation === g2 && n.id === 'n0') {
            // It exits at once: on probation that fails the rollout; the node refuses the generation.
            mine = mine.filter((x) => x !== t)
            n.refusals = [
              {
                workload: 'web',
                generation: g2,
                reason: 'exited',
                at: { wall: clock, logical: 0 },
                ...(t.promise.probation ? { rollout: true as const } : {}),
              },
            ]
          } else {
            t.promise = { ...t.promise, phase: 'running', ready: true }
            t.readyAt = round
          }
        }
      }
      // The monitor: a slot ready for long enough leaves probation.
      for (const t of mine)
        if (t.promise.probation && t.readyAt !== undefined && round - t.readyAt >= setup.monitorRounds) {
          const { probation: _, ...rest } = t.promise
          t.promise = rest
        }
      held.set(n.id, mine)
    })
    const all = [...held.values()].flat().map((t) => t.promise)
    const serving = new Set(all.filter((p) => p.phase === 'running' && p.ready).map((p) => p.slot))
    const counted = new Set(
      all
        .filter((p) => p.generation === g2 && p.phase === 'running' && p.ready && !p.probation)
        .map((p) => p.slot),
    )
    const touched = new Set(all.filter((p) => p.generation === g2).map((p) => p.slot))
    const inFlight = [
      ...new Set([...touched, ...Array.from({ length: setup.replicas }, (_, s) => s)]),
    ].filter((s) => !counted.has(s) && (touched.has(s) || !serving.has(s))).length
    rounds.push({
      serving: serving.size,
      servingOld: all.filter((p) => p.generation === g1 && p.phase === 'running' && p.ready).length,
      inFlight,
      halted: nodes.some((n) => n.refusals.some((r) => r.rollout === true)),
    })
  }
  const all = [...held.values()].flat().map((t) => t.promise)
  return { rounds, all, g1, g2, firstClaim }
}

describe.each(configs)('rollouts (%s)', (_, config) => {
  test('a rollout that can run completes: every slot at the new generation, once, off probation', () => {
    fc.assert(
      fc.property(
        setups.filter((s) => !s.fails && roomy(s)),
        (setup) => {
          const { all, g2 } = rollout(setup, config)
          expect(all.map((p) => p.slot).sort((a, b) => a - b)).toStrictEqual(
            Array.from({ length: setup.replicas }, (_, i) => i),
          )
          for (const p of all) {
            expect(p.generation).toBe(g2)
            expect(p.probation).toBeUndefined()
          }
        },
      ),
    )
  })

  test('waves: never more than maxUnavailable slots in flight, and slots are replaced lowest first', () => {
    fc.assert(
      fc.property(setups, (setup) => {
        const { rounds, firstClaim } = rollout(setup, config)
        for (const round of rounds) expect(round.inFlight).toBeLessThanOrEqual(setup.maxUnavailable)
        // The first claims of v2 go in slot order, wave by wave.
        const order = [...firstClaim.entries()]
          .sort(([a, ra], [b, rb]) => ra - rb || a - b)
          .map(([slot]) => slot)
        expect(order).toStrictEqual([...order].sort((a, b) => a - b))
      }),
    )
  })

  test('monitor: a wave waits until the slots of the one before have been ready for the monitor', () => {
    fc.assert(
      fc.property(
        setups.filter((s) => !s.fails && s.replicas > s.maxUnavailable && roomy(s)),
        (setup) => {
          const { firstClaim } = rollout(setup, config)
          const m = setup.maxUnavailable
          // Wave k+1's first claim comes at least monitor rounds after wave k's last claim settled:
          // claim (round r), start (r+1), ready for `monitorRounds` more rounds.
          const claimRound = (slot: number) => firstClaim.get(slot) as number
          for (let slot = m; slot < setup.replicas; slot++) {
            const before = claimRound(slot - m)
            expect(claimRound(slot) - before).toBeGreaterThanOrEqual(1 + setup.monitorRounds)
          }
        },
      ),
    )
  })

  test('failure on probation halts the rollout: no serving slot is taken down after it', () => {
    fc.assert(
      fc.property(
        setups.filter((s) => s.fails && roomy(s)),
        (setup) => {
          const { rounds } = rollout(setup, config)
          const haltedAt = rounds.findIndex((r) => r.halted)
          // n0 may take no v2 slot at all (another node held every early wave): then nothing failed.
          if (haltedAt === -1) return
          // No wave goes on: what served when it halted keeps serving (a slot whose successor
          // already serves may hand over to it), and no further slot is taken down.
          const serving = rounds[haltedAt]?.serving ?? 0
          for (const round of rounds.slice(haltedAt)) expect(round.serving).toBeGreaterThanOrEqual(serving)
        },
      ),
    )
  })

  test('start-first with room keeps every slot serving through the rollout', () => {
    fc.assert(
      fc.property(
        setups.filter(
          (s) => !s.fails && s.order === 'start-first' && s.room * s.nodes >= 2 * s.replicas + s.nodes,
        ),
        (setup) => {
          const { rounds } = rollout(setup, config)
          for (const round of rounds) expect(round.serving).toBe(setup.replicas)
        },
      ),
    )
  })
})
