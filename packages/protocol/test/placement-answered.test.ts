import fc from 'fast-check'
import { expect, test } from 'vitest'
import {
  DEFAULT_PLACEMENT_CONFIG,
  generationOf,
  openingKey,
  plan,
  type SlotPromise,
  type Workload,
} from '../src/index.js'
import { ClaimingNodes, claimsIn, deliveries, isStart, viewFlips } from './claiming-nodes.js'
import { node, workload } from './placement-builders.js'
import { BOTH_PASSES, type Cluster, NOW } from './placement-cluster.js'

// Rule 5's second exception (`AnsweredClaims`): a node's opening claims of a generation start
// before the settle delay ends once every other node that may take the workload holds a claim of
// it, none of the slot; however states travel, no slot starts early on two nodes.

fc.configureGlobal({ numRuns: Number(process.env.PLACEMENT_RUNS ?? 100) })

const SETTLE = DEFAULT_PLACEMENT_CONFIG.settleMs

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

const command = fc.oneof(fc.record({ pass: fc.nat(29) }, { noNullPrototype: true }), ...deliveries)

test.each(BOTH_PASSES)(
  '%s: nodes claiming while their states reach each other late, out of order or not at all start no slot early twice',
  (_, config) => {
    let early = 0
    fc.assert(
      fc.property(
        small,
        fc.array(command, { minLength: 30, maxLength: 120 }),
        viewFlips,
        (c, commands, flips) => {
          // Every node publishes a state after each pass; a delivery gives a node a newer state of
          // another (maybe skipping some). Time stays within the settle delay: every start is early.
          const run = new ClaimingNodes(c.nodes, c.workloads, config, flips)
          const size = c.nodes.length
          let now = NOW
          for (const cmd of commands) {
            now = Math.min(now + 1, NOW + SETTLE - 1)
            if ('everything' in cmd) run.everything(cmd.everything % size)
            else if ('to' in cmd) run.deliver(cmd.to % size, cmd.from % size, cmd.skip)
            else early += run.pass(cmd.pass % size, now).filter((start) => start.answered).length
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
          claimsIn(
            id,
            [web],
            ids.map((n) => node(n)),
            config,
            NOW,
            { wall: NOW + i, logical: 0 },
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
