import fc from 'fast-check'
import { expect, test } from 'vitest'
import {
  DEFAULT_PLACEMENT_CONFIG,
  deathKey,
  generationOf,
  openingKey,
  type PlacementNode,
  plan,
  type SlotPromise,
} from '../src/index.js'
import { type Actor, ClaimingNodes, claimsIn, deliveries, isStart, viewFlips } from './claiming-nodes.js'
import { node, runningPromise, workload } from './placement-builders.js'
import { BOTH_PASSES, NOW } from './placement-cluster.js'

// Rule 5's third exception (`FailoverClaims`): a node's claims made in the pass that first acted on
// a member's death start before the settle delay ends once every rival published that it saw the
// deaths the claimant had seen; opening claims (`AnsweredClaims`) run beside them. However states
// travel and deaths are seen, no slot starts early on two nodes.

fc.configureGlobal({ numRuns: Number(process.env.PLACEMENT_RUNS ?? 100) })

const SETTLE = DEFAULT_PLACEMENT_CONFIG.settleMs

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
  ...deliveries,
)

test.each(BOTH_PASSES)(
  "%s: nodes taking a dead member's slots while deaths and states reach them late, out of order or not at all start no slot early twice",
  (_, config) => {
    let failoverStarts = 0
    fc.assert(
      fc.property(
        cluster,
        fc.array(command, { minLength: 30, maxLength: 120 }),
        viewFlips,
        (c, commands, flips) => {
          // The victims are the first nodes (they hold slots); every other node passes, publishing
          // a state after each pass, and sees each victim die when told. Time stays within the
          // settle delay: every start is early.
          const victims = c.nodes.slice(0, c.victims).map((_, i) => i)
          const deathOf = (v: number) =>
            deathKey((c.nodes[v] as PlacementNode).id, { incarnation: 1, seq: 1 })
          const run = new ClaimingNodes(c.nodes, c.workloads, config, flips)
          const survivors = c.nodes.map((_, i) => i).filter((i) => !victims.includes(i))
          const pick = (n: number) => survivors[n % survivors.length] as number
          let now = NOW
          for (const cmd of commands) {
            now = Math.min(now + 1, NOW + SETTLE - 1)
            if ('everything' in cmd) run.everything(pick(cmd.everything))
            else if ('to' in cmd) run.deliver(pick(cmd.to), cmd.from % c.nodes.length, cmd.skip)
            else if ('sees' in cmd)
              (run.actors[pick(cmd.sees)] as Actor).dead.add(victims[cmd.victim % victims.length] as number)
            else
              failoverStarts += run
                .pass(pick(cmd.pass), now, deathOf)
                .filter((start) => start.failover).length
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
          claimsIn(self.id, [web], survivors, config, NOW, { wall: NOW, logical: 0 }),
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
