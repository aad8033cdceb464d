import fc from 'fast-check'
import { expect, test } from 'vitest'
import {
  DEFAULT_PLACEMENT_CONFIG,
  generationOf,
  globalSlotKey,
  openingKey,
  opensGeneration,
  type PlacementNode,
  plan,
  type SelfAction,
  type SlotPromise,
  slotKey,
  type Workload,
} from '../src/index.js'
import { claimedPromise, GI, node, workload } from './placement-builders.js'
import { BOTH_PASSES, type Cluster, NOW } from './placement-cluster.js'

// Rule 5's second exception (`AnsweredClaims`): a node's opening claims of a generation start
// before the settle delay ends once every other node that may take the workload holds a claim of
// it, none of the slot; however states travel, no slot starts early on two nodes.

fc.configureGlobal({ numRuns: Number(process.env.PLACEMENT_RUNS ?? 100) })

const SETTLE = DEFAULT_PLACEMENT_CONFIG.settleMs

const isStart = (a: SelfAction): a is Extract<SelfAction, { kind: 'start' }> => a.kind === 'start'

/** A node as the actuator keeps it: its promises, and what only it knows of its claims. */
interface Actor {
  self: PlacementNode
  /** Generations (`workload/generation`) it ever claimed a slot of. */
  claimed: Set<string>
  /** Keys of its opening claims. */
  opening: Set<string>
  /** The state of each other node as it last received it (an index into that node's states). */
  seen: number[]
  logical: number
}

/**
 * Deploys: 2-6 nodes holding nothing yet, some with a zone, one in ten draining or refusing, and
 * 1-3 workloads just declared, some kept to a zone.
 */
const small: fc.Arbitrary<Cluster> = fc
  .record(
    {
      nodes: fc.array(
        fc.record({ zone: fc.constantFrom(undefined, 'a', 'b'), odd: fc.nat(9) }, { noNullPrototype: true }),
        { minLength: 2, maxLength: 6 },
      ),
      workloads: fc.uniqueArray(
        fc.record(
          {
            name: fc.constantFrom('api', 'db', 'web'),
            replicas: fc.integer({ min: 1, max: 12 }),
            zone: fc.constantFrom(undefined, undefined, 'a'),
          },
          { noNullPrototype: true },
        ),
        { minLength: 1, maxLength: 3, selector: (w) => w.name },
      ),
    },
    { noNullPrototype: true },
  )
  .map(({ nodes, workloads }) => {
    const specs = workloads.map((w) =>
      workload(w.name, { replicas: w.replicas, constraints: w.zone === undefined ? {} : { zone: w.zone } }),
    )
    return {
      workloads: specs,
      nodes: nodes.map((n, i) =>
        node(`n${i}`, {
          labels: n.zone === undefined ? {} : { zone: n.zone },
          draining: n.odd === 0,
          refusals:
            n.odd === 1
              ? [
                  {
                    workload: (specs[0] as Workload).name,
                    generation: generationOf(specs[0] as Workload),
                    reason: 'crash loop',
                    at: { wall: 1, logical: 0 },
                  },
                ]
              : [],
        }),
      ),
    }
  })

const command = fc.oneof(
  fc.record({ pass: fc.nat(29) }, { noNullPrototype: true }),
  fc.record({ to: fc.nat(29), from: fc.nat(29), skip: fc.nat(2) }, { noNullPrototype: true }),
  // Every other node's latest state reaches `everything`.
  fc.record({ everything: fc.nat(29) }, { noNullPrototype: true }),
)

test.each(BOTH_PASSES)(
  '%s: nodes claiming while their states reach each other late, out of order or not at all start no slot early twice',
  (_, config) => {
    let early = 0
    fc.assert(
      fc.property(
        small,
        fc.array(command, { minLength: 30, maxLength: 120 }),
        fc.array(fc.nat(19), { minLength: 36, maxLength: 36 }),
        (c, commands, flips) => {
          // Every node publishes a state after each pass; a delivery gives a node a newer state of
          // another (maybe skipping some). Time stays within the settle delay: every start is early.
          const states: PlacementNode[][] = c.nodes.map((n) => [n])
          const actors: Actor[] = c.nodes.map((n) => ({
            self: n,
            claimed: new Set(),
            opening: new Set(),
            seen: c.nodes.map(() => 0),
            logical: 0,
          }))
          const startedBy = new Map<string, string>()
          let now = NOW
          for (const cmd of commands) {
            now = Math.min(now + 1, NOW + SETTLE - 1)
            if ('everything' in cmd) {
              const to = actors[cmd.everything % actors.length] as Actor
              to.seen = states.map((published) => published.length - 1)
              continue
            }
            if ('to' in cmd) {
              const to = actors[cmd.to % actors.length] as Actor
              const from = cmd.from % actors.length
              const published = (states[from] as PlacementNode[]).length - 1
              to.seen[from] = Math.min(published, (to.seen[from] as number) + 1 + cmd.skip)
              continue
            }
            const i = cmd.pass % actors.length
            const actor = actors[i] as Actor
            // Views differ beyond what was delivered: each node sees some others drain, or full,
            // when they do not (or the reverse), as a state it has not received yet would say.
            const others = actors.flatMap((_, o) => {
              if (o === i) return []
              const state = (states[o] as PlacementNode[])[actor.seen[o] as number] as PlacementNode
              const flip = flips[i * 6 + o]
              if (flip === 1) return [{ ...state, draining: !state.draining }]
              if (flip === 2) return [{ ...state, capacity: { cpuMillis: 100, memoryBytes: GI } }]
              return [state]
            })
            const openingClaims = new Set(
              actor.self.promises
                .filter((p) => p.phase === 'claimed')
                .map((p) => openingKey(p.workload, p.slot, p.generation))
                .filter((key) => actor.opening.has(key)),
            )
            const result = plan(
              {
                self: actor.self.id,
                workloads: c.workloads,
                nodes: [...others, actor.self],
                nowWall: now,
                partialView: false,
                partialViewForMs: 0,
                openingClaims,
              },
              config,
            )
            let promises = [...actor.self.promises]
            const opens = new Map<string, boolean>()
            for (const action of result.actions) {
              const same = (p: SlotPromise) =>
                p.workload === action.workload &&
                p.slot === action.slot &&
                (action.kind === 'keep' || p.generation === action.generation)
              if (action.kind === 'release') promises = promises.filter((p) => !same(p))
              if (action.kind === 'start') {
                promises = promises.map((p) => (same(p) ? { ...p, phase: 'starting' } : p))
                if (!action.unsettled) continue
                const global = c.workloads.find((w) => w.name === action.workload)?.mode === 'global'
                const key = global
                  ? globalSlotKey(action.workload, actor.self.id)
                  : slotKey(action.workload, action.slot)
                expect(
                  startedBy.get(key),
                  `${key} started early by ${startedBy.get(key)} and ${actor.self.id}`,
                ).toBeUndefined()
                startedBy.set(key, actor.self.id)
                if (action.answered) early++
              }
              if (action.kind === 'claim') {
                const generation = `${action.workload}/${action.generation}`
                let opening = opens.get(generation)
                if (opening === undefined) {
                  opening =
                    action.rollout !== true &&
                    !actor.claimed.has(generation) &&
                    opensGeneration(actor.self, action.workload, action.generation)
                  opens.set(generation, opening)
                }
                actor.claimed.add(generation)
                if (opening) actor.opening.add(openingKey(action.workload, action.slot, action.generation))
                promises.push(claimedPromise(action, { wall: now, logical: actor.logical++ }))
              }
            }
            actor.self = { ...actor.self, promises }
            ;(states[i] as PlacementNode[]).push(actor.self)
          }
        },
      ),
    )
    // The runs above started slots early this way.
    expect(early).toBeGreaterThan(0)
  },
)

test.each(BOTH_PASSES)(
  '%s: a deploy starts once every node that may take it has claimed, and settles while one has not',
  (_, config) => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 20 }), (size, replicas) => {
        const web = workload('web', { replicas })
        const ids = Array.from({ length: size }, (_, i) => `n${i}`)
        // Each node claims from an empty view (the declaration just arrived everywhere).
        const claims = ids.map((id, i) =>
          plan(
            {
              self: id,
              workloads: [web],
              nodes: ids.map((n) => node(n)),
              nowWall: NOW,
              partialView: false,
              partialViewForMs: 0,
            },
            config,
          )
            .actions.filter((a) => a.kind === 'claim')
            .map((a) =>
              claimedPromise(a as Extract<SelfAction, { kind: 'claim' }>, { wall: NOW + i, logical: 0 }),
            ),
        )
        // Then each receives every other's claims, before its delay ends.
        for (const [i, id] of ids.entries()) {
          const nodes = ids.map((n, o) => node(n, { promises: claims[o] as SlotPromise[] }))
          const own = claims[i] as SlotPromise[]
          const result = plan(
            {
              self: id,
              workloads: [web],
              nodes,
              nowWall: NOW + size + 1,
              partialView: false,
              partialViewForMs: 0,
              openingClaims: new Set(own.map((p) => openingKey(p.workload, p.slot, p.generation))),
            },
            config,
          )
          const starts = result.actions.filter(isStart)
          const everyoneClaimed = claims.every((mine) => mine.length > 0)
          expect(starts.map((a) => a.slot)).toStrictEqual(everyoneClaimed ? own.map((p) => p.slot) : [])
          for (const start of starts) expect(start).toMatchObject({ unsettled: true, answered: true })
        }
        expect(generationOf(web)).toBeTruthy()
      }),
    )
  },
)
