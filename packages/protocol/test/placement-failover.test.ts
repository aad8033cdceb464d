import fc from 'fast-check'
import { expect, test } from 'vitest'
import {
  DEFAULT_PLACEMENT_CONFIG,
  deathKey,
  generationOf,
  openingKey,
  opensGeneration,
  type PlacementNode,
  plan,
  type SelfAction,
  type SlotPromise,
  slotKey,
} from '../src/index.js'
import { claimedPromise, GI, node, runningPromise, workload } from './placement-builders.js'
import { BOTH_PASSES, NOW } from './placement-cluster.js'

// Rule 5's third exception (`FailoverClaims`): a node's claims made in the pass that first acted on
// a member's death start before the settle delay ends once every rival published that it saw the
// deaths the claimant had seen; opening claims (`AnsweredClaims`) run beside them. However states
// travel and deaths are seen, no slot starts early on two nodes.

fc.configureGlobal({ numRuns: Number(process.env.PLACEMENT_RUNS ?? 100) })

const SETTLE = DEFAULT_PLACEMENT_CONFIG.settleMs

/** A node as its reconcile loop keeps it: its state, and what only it knows. */
interface Actor {
  self: PlacementNode
  /** The members it holds dead. */
  dead: Set<number>
  /** The deaths it acted on (`seenDead`), in order, and every one it ever did. */
  seenDead: string[]
  /** Generations (`workload/generation`) it ever claimed a slot of. */
  claimed: Set<string>
  opening: Set<string>
  failover: Set<string>
  stamps: Map<string, readonly string[]>
  /** The state of each other node as it last received it (an index into that node's states). */
  seen: number[]
  logical: number
}

/**
 * 3-6 nodes running 1-2 workloads (each slot on one node, some nodes holding none: those claim
 * as opening ones), one or two of which will die; one in ten nodes draining or full in another's
 * view, as a state not yet received would say.
 */
const cluster = fc
  .record(
    {
      size: fc.integer({ min: 3, max: 6 }),
      workloads: fc.uniqueArray(
        fc.record(
          { name: fc.constantFrom('api', 'db', 'web'), replicas: fc.integer({ min: 1, max: 10 }) },
          { noNullPrototype: true },
        ),
        { minLength: 1, maxLength: 2, selector: (w) => w.name },
      ),
      holders: fc.integer({ min: 1, max: 6 }),
      victims: fc.integer({ min: 1, max: 2 }),
    },
    { noNullPrototype: true },
  )
  .map(({ size, workloads, holders, victims }) => {
    const specs = workloads.map((w) => workload(w.name, { replicas: w.replicas }))
    const holding = Math.min(holders, size)
    const nodes = Array.from({ length: size }, (_, i) =>
      node(`n${i}`, {
        promises: specs.flatMap((w) =>
          Array.from({ length: w.replicas }, (_, slot) => slot)
            .filter((slot) => slot % holding === i)
            .map((slot) => runningPromise(w, slot, 1)),
        ),
      }),
    )
    return { workloads: specs, nodes, victims: Math.min(victims, size - 2) }
  })

const command = fc.oneof(
  fc.record({ pass: fc.nat(29) }, { noNullPrototype: true }),
  fc.record({ sees: fc.nat(29), victim: fc.nat(1) }, { noNullPrototype: true }),
  fc.record({ to: fc.nat(29), from: fc.nat(29), skip: fc.nat(2) }, { noNullPrototype: true }),
  fc.record({ everything: fc.nat(29) }, { noNullPrototype: true }),
)

const isStart = (a: SelfAction): a is Extract<SelfAction, { kind: 'start' }> => a.kind === 'start'

test.each(BOTH_PASSES)(
  "%s: nodes taking a dead member's slots while deaths and states reach them late, out of order or not at all start no slot early twice",
  (_, config) => {
    let failoverStarts = 0
    fc.assert(
      fc.property(
        cluster,
        fc.array(command, { minLength: 30, maxLength: 120 }),
        fc.array(fc.nat(19), { minLength: 36, maxLength: 36 }),
        (c, commands, flips) => {
          // The victims are the first nodes (they hold slots); every other node passes, publishing
          // a state after each pass, and sees each victim die when told.
          const victims = c.nodes.slice(0, c.victims).map((_, i) => i)
          const deathOf = (v: number) =>
            deathKey((c.nodes[v] as PlacementNode).id, { incarnation: 1, seq: 1 })
          const states: PlacementNode[][] = c.nodes.map((n) => [n])
          const actors: Actor[] = c.nodes.map((n) => ({
            self: n,
            dead: new Set(),
            seenDead: [],
            claimed: new Set(),
            opening: new Set(),
            failover: new Set(),
            stamps: new Map(),
            seen: c.nodes.map(() => 0),
            logical: 0,
          }))
          const survivors = actors.map((_, i) => i).filter((i) => !victims.includes(i))
          const pick = (n: number) => survivors[n % survivors.length] as number
          const startedBy = new Map<string, string>()
          let now = NOW
          for (const cmd of commands) {
            now = Math.min(now + 1, NOW + SETTLE - 1)
            if ('everything' in cmd) {
              const to = actors[pick(cmd.everything)] as Actor
              to.seen = states.map((published) => published.length - 1)
              continue
            }
            if ('to' in cmd) {
              const to = actors[pick(cmd.to)] as Actor
              const from = cmd.from % actors.length
              const published = (states[from] as PlacementNode[]).length - 1
              to.seen[from] = Math.min(published, (to.seen[from] as number) + 1 + cmd.skip)
              continue
            }
            if ('sees' in cmd) {
              const victim = victims[cmd.victim % victims.length] as number
              ;(actors[pick(cmd.sees)] as Actor).dead.add(victim)
              continue
            }
            const i = pick(cmd.pass)
            const actor = actors[i] as Actor
            const others = actors.flatMap((_, o) => {
              if (o === i || actor.dead.has(o)) return []
              const state = (states[o] as PlacementNode[])[actor.seen[o] as number] as PlacementNode
              const flip = flips[i * 6 + o]
              if (flip === 1) return [{ ...state, draining: !state.draining }]
              if (flip === 2) return [{ ...state, capacity: { cpuMillis: 100, memoryBytes: GI } }]
              return [state]
            })
            // The loop acts on the deaths it holds, once each: this pass's claims are failover ones.
            let added = false
            for (const v of actor.dead) {
              const key = deathOf(v)
              if (actor.seenDead.includes(key)) continue
              actor.seenDead.push(key)
              added = true
            }
            const young = (keys: Set<string>) =>
              new Set(
                actor.self.promises
                  .filter((p) => p.phase === 'claimed')
                  .map((p) => openingKey(p.workload, p.slot, p.generation))
                  .filter((key) => keys.has(key)),
              )
            const result = plan(
              {
                self: actor.self.id,
                workloads: c.workloads,
                nodes: [...others, actor.self],
                nowWall: now,
                partialView: false,
                partialViewForMs: 0,
                openingClaims: young(actor.opening),
                failoverClaims: young(actor.failover),
                claimStamps: actor.stamps,
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
              if (isStart(action)) {
                promises = promises.map((p) => (same(p) ? { ...p, phase: 'starting' } : p))
                if (!action.unsettled) continue
                const key = slotKey(action.workload, action.slot)
                expect(
                  startedBy.get(key),
                  `${key} started early by ${startedBy.get(key)} and ${actor.self.id}`,
                ).toBeUndefined()
                startedBy.set(key, actor.self.id)
                if (action.failover) failoverStarts++
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
                const key = openingKey(action.workload, action.slot, action.generation)
                if (opening) actor.opening.add(key)
                if (added) actor.failover.add(key)
                if ((opening || added) && actor.seenDead.length > 0)
                  actor.stamps.set(key, [...actor.seenDead])
                promises.push(claimedPromise(action, { wall: now, logical: actor.logical++ }))
              }
            }
            actor.self = { ...actor.self, promises, seenDead: [...actor.seenDead] }
            ;(states[i] as PlacementNode[]).push(actor.self)
          }
        },
      ),
    )
    // The runs above started slots early this way.
    expect(failoverStarts).toBeGreaterThan(0)
  },
)

test.each(BOTH_PASSES)(
  "%s: a dead member's slot starts once every rival that may take it published the death, and settles while one has not",
  (_, config) => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 6 }), fc.integer({ min: 1, max: 3 }), (size, lost) => {
        const web = workload('web', { replicas: size * 2 })
        const ids = Array.from({ length: size }, (_, i) => `n${i}`)
        const death = deathKey('n0', { incarnation: 1, seq: 1 })
        // n0 held `lost` slots and died; the others hold the rest.
        const holder = (slot: number) => (slot < lost ? 0 : 1 + (slot % (size - 1)))
        const held = (i: number) =>
          Array.from({ length: web.replicas }, (_, slot) => slot)
            .filter((slot) => holder(slot) === i)
            .map((slot) => runningPromise(web, slot, 1))
        const survivors = ids.slice(1).map((id, k) => node(id, { promises: held(k + 1) }))
        // Each survivor claims in the pass that acted on the death, then hears from the others.
        const claims = survivors.map((self) =>
          plan(
            {
              self: self.id,
              workloads: [web],
              nodes: survivors,
              nowWall: NOW,
              partialView: false,
              partialViewForMs: 0,
            },
            config,
          )
            .actions.filter((a) => a.kind === 'claim')
            .map((a) =>
              claimedPromise(a as Extract<SelfAction, { kind: 'claim' }>, { wall: NOW, logical: 0 }),
            ),
        )
        expect(claims.flat()).toHaveLength(lost)
        for (const [k, self] of survivors.entries()) {
          const own = claims[k] as SlotPromise[]
          if (own.length === 0) continue
          const keys = new Set(own.map((p) => openingKey(p.workload, p.slot, p.generation)))
          for (const silent of [undefined, ...survivors.filter((s) => s !== self).map((s) => s.id)]) {
            const nodes = survivors.map((s, o) => ({
              ...s,
              promises: [...s.promises, ...(claims[o] as SlotPromise[])],
              ...(s.id === silent ? {} : { seenDead: [death] }),
            }))
            const result = plan(
              {
                self: self.id,
                workloads: [web],
                nodes,
                nowWall: NOW + 1,
                partialView: false,
                partialViewForMs: 0,
                failoverClaims: keys,
                claimStamps: new Map([...keys].map((key) => [key, [death]])),
              },
              config,
            )
            const starts = result.actions.filter(isStart)
            expect(starts.map((a) => a.slot)).toStrictEqual(
              silent === undefined ? own.map((p) => p.slot) : [],
            )
            for (const start of starts) expect(start).toMatchObject({ unsettled: true, failover: true })
          }
        }
        expect(generationOf(web)).toBeTruthy()
      }),
    )
  },
)
