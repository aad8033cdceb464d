import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  compareVersions,
  DEFAULT_DETECTOR,
  DEFAULT_MEMBERSHIP,
  isNewer,
  type Member,
  type MemberStatus,
  type MembershipConfig,
  MemberTable,
  type Observation,
  type StatusChange,
  statusAt,
  sumDigest,
} from '../src/index.js'
import { beat, record, state } from './arbitraries.js'

const SELF = 'self'
/** How long a heartbeat heard directly outweighs a witness's report: the silence a witness accuses at. */
const HOLD = DEFAULT_DETECTOR.suspectAfterMs
const config: MembershipConfig = { suspectAfterMs: 2000, deadAfterMs: 3000, forgetAfterMs: 60_000 }

/** Thresholds in order, small enough that random time steps cross all of them. */
const membershipConfig: fc.Arbitrary<MembershipConfig> = fc
  .tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 300 }))
  .map(([suspect, deadGap, forgetGap]) => ({
    suspectAfterMs: suspect,
    deadAfterMs: suspect + deadGap,
    forgetAfterMs: suspect + deadGap + forgetGap,
  }))

type Op =
  | { kind: 'state'; node: string; incarnation: number; seq: number; dt: number }
  | { kind: 'heartbeat'; node: string; incarnation: number; seq: number; dt: number }
  // A probe that started `ago` ms before now found the member unreachable.
  | { kind: 'unreachable'; node: string; ago: number; dt: number }
  | { kind: 'sweep'; dt: number }

const node = fc.constantFrom(SELF, 'a', 'b', 'c')
const dt = fc.oneof(fc.constant(0), fc.nat(30), fc.nat(500))
const op: fc.Arbitrary<Op> = fc.oneof(
  record({ kind: fc.constant('state' as const), node, incarnation: fc.nat(3), seq: fc.nat(4), dt }),
  record({ kind: fc.constant('heartbeat' as const), node, incarnation: fc.nat(3), seq: fc.nat(4), dt }),
  record({ kind: fc.constant('unreachable' as const), node, ago: fc.nat(20), dt }),
  record({ kind: fc.constant('sweep' as const), dt }),
)

/** Runs ops with a clock that only moves forward, returning what each call returned. */
function run(
  table: MemberTable,
  ops: readonly Op[],
  start = 0,
): (Observation | StatusChange[] | undefined)[] {
  let now = start
  return ops.map((o) => {
    now += o.dt
    return apply(table, o, now)
  })
}

function apply(table: MemberTable, o: Op, now: number): Observation | StatusChange[] | undefined {
  switch (o.kind) {
    case 'state':
      return table.observeState(state(o.node, o.incarnation, o.seq), now)
    case 'heartbeat':
      return table.observeHeartbeat(o.node, beat(o.incarnation, o.seq), now)
    case 'unreachable':
      table.markUnreachable(o.node, Math.max(0, now - o.ago))
      return undefined
    case 'sweep':
      return table.sweep(now)
  }
}

/** The digest and the counts the table keeps as members change are what its member list gives. */
function expectTallyOfList(table: MemberTable): void {
  const live = table.list().filter((m) => m.status !== 'dead' && m.state !== undefined)
  expect(table.liveDigest()).toBe(sumDigest([SELF, ...live.map((m) => m.id)]))
  const alive = table.list().filter((m) => m.status === 'alive')
  expect(table.hearing).toEqual({ alive: alive.length, directAlive: alive.filter((m) => m.direct).length })
}

const snapshot = (table: MemberTable) =>
  new Map(table.list().map((m) => [m.id, structuredClone(m) as Member]))

/** Sweeps every `step` ms from `from` to `to` inclusive, returning each change with its time. */
function sweepEvery(table: MemberTable, from: number, to: number, step = 1) {
  const changes: (StatusChange & { at: number })[] = []
  for (let now = from; now <= to; now += step) {
    for (const change of table.sweep(now)) changes.push({ ...change, at: now })
  }
  return changes
}

describe('MemberTable under random inputs', () => {
  test('version grows whenever who is there, their status or whether their state is known changes', () => {
    // What the member digest is computed from: a cache keyed by version must see every change.
    const shape = (table: MemberTable) =>
      JSON.stringify(table.list().map((m) => [m.id, m.status, m.state !== undefined]))
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const table = new MemberTable(SELF, config)
        let now = 0
        for (const o of ops) {
          const [before, version] = [shape(table), table.version]
          now += o.dt
          apply(table, o, now)
          if (shape(table) !== before) expect(table.version).toBeGreaterThan(version)
        }
      }),
    )
  })

  test('the live digest always names self and the members not dead whose state is known, and the counts of members heard are right', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const table = new MemberTable(SELF, config)
        let now = 0
        for (const o of ops) {
          now += o.dt
          apply(table, o, now)
          expectTallyOfList(table)
        }
      }),
    )
  })

  test('with relayed liveness too, the digest and the counts follow connections and one-member settles', () => {
    const relayed = { ...config, indirectDeadAfterMs: 10_000 }
    const step = fc.oneof(
      op,
      record({ kind: fc.constant('indirect' as const), node, dt }),
      record({ kind: fc.constant('settle' as const), node, dt }),
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const table = new MemberTable(SELF, relayed)
        let now = 0
        for (const s of steps) {
          now += s.dt
          if (s.kind === 'indirect') table.setIndirect(s.node)
          else if (s.kind === 'settle') table.sweep(now, s.node)
          else apply(table, s, now)
          expectTallyOfList(table)
        }
      }),
    )
  })

  test('keeps every invariant after each step', () => {
    fc.assert(
      fc.property(membershipConfig, fc.array(op, { maxLength: 80 }), (cfg, ops) => {
        const table = new MemberTable(SELF, cfg)
        // The status of each member as told by sweep's changes: it must always match the table.
        const reported = new Map<string, MemberStatus>()
        let now = 0
        for (const o of ops) {
          now += o.dt
          const before = snapshot(table)
          const out = apply(table, o, now)
          const after = snapshot(table)

          // Self is never a member, and list() is ordered by id.
          const ids = table.list().map((m) => m.id)
          expect(ids).not.toContain(SELF)
          expect(ids).toEqual([...ids].sort())
          expect(new Set(ids).size).toBe(ids.length)

          for (const [id, m] of after) {
            const old = before.get(id)
            if (m.state !== undefined) expect(compareVersions(m.announced, m.state)).toBeGreaterThanOrEqual(0)
            if (old === undefined) continue
            // Never backwards: a held state, the announced version and the evidence time only grow.
            if (old.state !== undefined) {
              expect(m.state).toBeDefined()
              expect(compareVersions(m.state!, old.state)).toBeGreaterThanOrEqual(0)
            }
            expect(compareVersions(m.announced, old.announced)).toBeGreaterThanOrEqual(0)
            expect(m.heardAt).toBeGreaterThanOrEqual(old.heardAt)
          }

          if (o.kind === 'state' || o.kind === 'heartbeat') {
            const old = before.get(o.node)
            const m = after.get(o.node)
            if (o.node === SELF) {
              expect(out).toBe('self')
              continue
            }
            expect(m).toBeDefined()
            if (old === undefined) {
              expect(m!.status).toBe('alive')
              reported.set(o.node, 'alive')
            } else {
              expect(m!.status).toBe(old.status)
            }
            if (out === 'stale') {
              // A stale message changes nothing, not even the time the member was last heard from.
              expect(m).toEqual(old)
            } else {
              expect(m!.heardAt).toBe(Math.max(old?.heardAt ?? now, now))
              expect(m!.announced).toEqual(
                old !== undefined && !isNewer(o, old.announced)
                  ? old.announced
                  : { incarnation: o.incarnation, seq: o.seq },
              )
            }
          }

          if (o.kind === 'state' && o.node !== SELF) {
            const old = before.get(o.node)
            const m = after.get(o.node)!
            const held = old?.state
            const provablyStale =
              (held !== undefined && !isNewer(o, held)) ||
              // The member has announced a later incarnation: this state is from before its restart.
              (old !== undefined && o.incarnation < old.announced.incarnation)
            if (provablyStale) {
              expect(out).toBe('stale')
            } else {
              expect(out).toBe(
                held === undefined ? 'new' : o.incarnation > held.incarnation ? 'restarted' : 'updated',
              )
              expect(m.state).toMatchObject({ incarnation: o.incarnation, seq: o.seq })
            }
          }

          if (o.kind === 'heartbeat' && o.node !== SELF) {
            const old = before.get(o.node)
            const m = after.get(o.node)!
            if (old !== undefined && compareVersions(o, old.announced) < 0) expect(out).toBe('stale')
            else if (m.state === undefined || isNewer(o, m.state)) expect(out).toBe('needs-state')
            else expect(out).toBe('unchanged')
          }

          if (o.kind === 'unreachable') {
            // Marking is evidence for the next sweep; it does not change status by itself.
            expect([...after.values()].map((m) => m.status)).toEqual(
              [...before.values()].map((m) => m.status),
            )
            expect([...after.keys()]).toEqual([...before.keys()])
          }

          if (o.kind === 'sweep') {
            const changes = out as StatusChange[]
            expect(new Set(changes.map((c) => c.id)).size).toBe(changes.length)
            for (const change of changes) {
              expect(change.from).not.toBe(change.to)
              expect(change.from).toBe(reported.get(change.id))
              reported.set(change.id, change.to)
            }
            for (const [id, old] of before) {
              const gone = now - old.heardAt > cfg.forgetAfterMs
              expect(after.has(id)).toBe(!gone)
              if (gone) {
                // A member is forgotten only once dead, and its death was reported.
                expect(reported.get(id)).toBe('dead')
                reported.delete(id)
              }
            }
            for (const [id, m] of after) {
              expect(m.status).toBe(statusAt(m, now, cfg))
              expect(reported.get(id)).toBe(m.status)
            }
          }
        }
      }),
    )
  })

  test('two tables fed the same inputs in the same order agree', () => {
    fc.assert(
      fc.property(membershipConfig, fc.array(op, { maxLength: 80 }), (cfg, ops) => {
        const one = new MemberTable(SELF, cfg)
        const two = new MemberTable(SELF, cfg)
        expect(run(one, ops)).toEqual(run(two, ops))
        expect(one.list()).toEqual(two.list())
        expect(one.countByStatus()).toEqual(two.countByStatus())
      }),
    )
  })

  test('countByStatus counts list()', () => {
    fc.assert(
      fc.property(membershipConfig, fc.array(op, { maxLength: 80 }), (cfg, ops) => {
        const table = new MemberTable(SELF, cfg)
        run(table, ops)
        const counts = { alive: 0, suspect: 0, dead: 0 }
        for (const m of table.list()) counts[m.status]++
        expect(table.countByStatus()).toEqual(counts)
      }),
    )
  })
})

describe('MemberTable status by heartbeat age', () => {
  test('alive up to suspectAfterMs, suspect up to deadAfterMs, dead after, each reported once', () => {
    const table = new MemberTable(SELF, config)
    table.observeHeartbeat('a', beat(1, 1), 1000)
    const changes = sweepEvery(table, 1000, 1000 + config.deadAfterMs + 500)
    expect(changes).toEqual([
      { id: 'a', from: 'alive', to: 'suspect', at: 1000 + config.suspectAfterMs + 1 },
      { id: 'a', from: 'suspect', to: 'dead', at: 1000 + config.deadAfterMs + 1 },
    ])
  })

  test("a stall of this node's own loop is not its peers' silence; a member held dead stays dead", () => {
    const table = new MemberTable(SELF, config)
    table.observeHeartbeat('a', beat(1, 1), 0)
    table.observeHeartbeat('b', beat(1, 1), 0)
    table.markUnreachable('b', 100)
    expect(table.sweep(100)).toEqual([{ id: 'b', from: 'alive', to: 'dead' }])
    // The loop stood still from 500 to 5000: the beats sent meanwhile are unread yet.
    table.paused(4500, 5000)
    expect(table.sweep(5000)).toEqual([])
    expect(table.get('a')?.status).toBe('alive')
    expect(table.get('b')?.status).toBe('dead')
    // Silent after that too: dead once the silence it could have heard passes the threshold.
    expect(table.sweep(4500 + config.deadAfterMs)).toEqual([{ id: 'a', from: 'alive', to: 'suspect' }])
    expect(table.sweep(4501 + config.deadAfterMs)).toEqual([{ id: 'a', from: 'suspect', to: 'dead' }])
  })

  test('status follows age for any thresholds and any sweep schedule', () => {
    fc.assert(
      fc.property(membershipConfig, fc.array(fc.nat(40), { maxLength: 40 }), (cfg, steps) => {
        const table = new MemberTable(SELF, cfg)
        table.observeHeartbeat('a', beat(1, 1), 0)
        const seen: MemberStatus[] = ['alive']
        let now = 0
        for (const step of steps) {
          now += step
          const changes = table.sweep(now)
          const expected: MemberStatus =
            now <= cfg.suspectAfterMs ? 'alive' : now <= cfg.deadAfterMs ? 'suspect' : 'dead'
          if (now > cfg.forgetAfterMs) {
            expect(table.get('a')).toBeUndefined()
          } else {
            expect(table.get('a')?.status).toBe(expected)
            expect(statusAt(table.get('a')!, now, cfg)).toBe(expected)
          }
          for (const change of changes) {
            expect(change.from).toBe(seen.at(-1))
            seen.push(change.to)
          }
        }
        // Status only ever worsens without new evidence, and no status is reported twice.
        expect(seen).toEqual((['alive', 'suspect', 'dead'] as const).filter((s) => seen.includes(s)))
      }),
    )
  })

  test('a dead member heard from again comes back, reported once', () => {
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 1), 0)
    expect(table.sweep(config.deadAfterMs + 1)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    expect(table.observeHeartbeat('a', beat(1, 1), 5000)).toBe('unchanged')
    expect(table.get('a')?.status).toBe('dead')
    expect(table.sweep(5000)).toEqual([{ id: 'a', from: 'dead', to: 'alive' }])
    expect(table.sweep(5001)).toEqual([])
  })

  test('a suspect member heard from again is alive again', () => {
    const table = new MemberTable(SELF, config)
    table.observeHeartbeat('a', beat(1, 1), 0)
    expect(table.sweep(config.suspectAfterMs + 1)).toEqual([{ id: 'a', from: 'alive', to: 'suspect' }])
    table.observeHeartbeat('a', beat(1, 1), config.suspectAfterMs + 2)
    expect(table.sweep(config.suspectAfterMs + 2)).toEqual([{ id: 'a', from: 'suspect', to: 'alive' }])
  })

  test('a sweep that skips straight past dead reports one change', () => {
    const table = new MemberTable(SELF, config)
    table.observeHeartbeat('a', beat(1, 1), 0)
    expect(table.sweep(config.deadAfterMs + 1)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    expect(table.sweep(config.deadAfterMs + 2)).toEqual([])
  })

  test('uses the documented defaults', () => {
    expect(DEFAULT_MEMBERSHIP).toEqual({ suspectAfterMs: 2000, deadAfterMs: 3000, forgetAfterMs: 3_600_000 })
    const table = new MemberTable(SELF)
    table.observeHeartbeat('a', beat(1, 1), 0)
    expect(table.sweep(2000)).toEqual([])
    expect(table.sweep(2001)).toEqual([{ id: 'a', from: 'alive', to: 'suspect' }])
    expect(table.sweep(3001)).toEqual([{ id: 'a', from: 'suspect', to: 'dead' }])
    expect(table.sweep(3_600_000)).toEqual([])
    expect(table.list()).toHaveLength(1)
    table.sweep(3_600_001)
    expect(table.list()).toEqual([])
  })
})

describe('MemberTable versions', () => {
  test('a newer state updates, an older or equal one is stale', () => {
    const table = new MemberTable(SELF, config)
    expect(table.observeState(state('a', 1, 5), 0)).toBe('new')
    expect(table.observeState(state('a', 1, 6), 1)).toBe('updated')
    expect(table.observeState(state('a', 1, 6), 2)).toBe('stale')
    expect(table.observeState(state('a', 1, 4), 3)).toBe('stale')
    expect(table.get('a')).toMatchObject({
      state: { seq: 6 },
      announced: { incarnation: 1, seq: 6 },
      heardAt: 1,
    })
  })

  test('a restart returns restarted, and replays from before it are ignored', () => {
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 9), 0)
    expect(table.observeState(state('a', 2, 0), 10)).toBe('restarted')
    expect(table.observeState(state('a', 1, 9), 20)).toBe('stale')
    expect(table.observeState(state('a', 1, 10), 30)).toBe('stale')
    expect(table.get('a')).toMatchObject({ state: { incarnation: 2, seq: 0 }, heardAt: 10 })
  })

  test('a state from before a restart that only a heartbeat announced is stale', () => {
    const table = new MemberTable(SELF, config)
    // We first hear of `a` by a heartbeat from its new incarnation; gossip then replays its old state.
    expect(table.observeHeartbeat('a', beat(2, 0), 0)).toBe('needs-state')
    expect(table.observeState(state('a', 1, 9), 5)).toBe('stale')
    expect(table.get('a')?.state).toBeUndefined()
    expect(table.observeState(state('a', 2, 0), 6)).toBe('new')

    const held = new MemberTable(SELF, config)
    held.observeState(state('a', 1, 3), 0)
    expect(held.observeHeartbeat('a', beat(3, 0), 1)).toBe('needs-state')
    expect(held.observeState(state('a', 2, 7), 2)).toBe('stale')
    expect(held.get('a')?.state).toMatchObject({ incarnation: 1, seq: 3 })
    expect(held.observeState(state('a', 3, 0), 3)).toBe('restarted')
  })

  test('a heartbeat announcing a newer seq than the held state needs the state', () => {
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 1), 0)
    expect(table.observeHeartbeat('a', beat(1, 1), 1)).toBe('unchanged')
    expect(table.observeHeartbeat('a', beat(1, 2), 2)).toBe('needs-state')
    // Until the state arrives, every heartbeat keeps asking for it.
    expect(table.observeHeartbeat('a', beat(1, 2), 3)).toBe('needs-state')
    expect(table.observeHeartbeat('a', beat(1, 1), 4)).toBe('stale')
    expect(table.observeHeartbeat('a', beat(2, 0), 5)).toBe('needs-state')
    expect(table.observeState(state('a', 2, 0), 6)).toBe('restarted')
    expect(table.observeHeartbeat('a', beat(2, 0), 7)).toBe('unchanged')
  })

  test('a heartbeat from an unknown member adds it without a state and asks for one', () => {
    const table = new MemberTable(SELF, config)
    expect(table.observeHeartbeat('a', beat(4, 2, '00000000', 'abcdef0123456789'), 100)).toBe('needs-state')
    expect(table.get('a')).toMatchObject({
      id: 'a',
      announced: { incarnation: 4, seq: 2 },
      declDigest: 'abcdef0123456789',
      heardAt: 100,
      direct: true,
      lastDirectAt: 100,
      status: 'alive',
    })
    expect(table.get('a')?.state).toBeUndefined()
    expect(table.observeState(state('a', 4, 2), 101)).toBe('new')
    expect(table.observeHeartbeat('a', beat(4, 2), 102)).toBe('unchanged')
  })

  test('evidence stamped earlier than the last does not move heardAt back', () => {
    // Pulls and probes finish out of order: each carries the time it started.
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 1), 500)
    expect(table.observeHeartbeat('a', beat(1, 1), 400)).toBe('unchanged')
    expect(table.observeState(state('a', 1, 2), 300)).toBe('updated')
    expect(table.get('a')?.heardAt).toBe(500)
  })

  test('self is never a member', () => {
    const table = new MemberTable(SELF, config)
    expect(table.observeState(state(SELF, 1, 1), 0)).toBe('self')
    expect(table.observeHeartbeat(SELF, beat(1, 1), 0)).toBe('self')
    table.markUnreachable(SELF, 0)
    expect(table.sweep(10)).toEqual([])
    expect(table.get(SELF)).toBeUndefined()
    expect(table.list()).toEqual([])
  })

  test('list() is ordered by id, whatever the order members arrive in', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 20 }), (ids) => {
        const table = new MemberTable(SELF, config)
        for (const id of ids) table.observeHeartbeat(id, beat(1, 1), 0)
        const expected = ids.filter((id) => id !== SELF).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        expect(table.list().map((m) => m.id)).toEqual(expected)
      }),
    )
  })
})

describe('MemberTable unreachable members', () => {
  test('markUnreachable makes a member dead at the next sweep, until it is heard from later', () => {
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 1), 100)
    table.markUnreachable('a', 150)
    expect(table.get('a')?.status).toBe('alive')
    expect(table.sweep(160)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    expect(table.sweep(170)).toEqual([])
    // Evidence from the same instant does not outweigh the failed probe; later evidence does.
    table.observeHeartbeat('a', beat(1, 1), 150)
    expect(table.sweep(180)).toEqual([])
    table.observeHeartbeat('a', beat(1, 1), 190)
    expect(table.sweep(190)).toEqual([{ id: 'a', from: 'dead', to: 'alive' }])
  })

  test('a newer state at a later time also brings an unreachable member back; a stale one does not', () => {
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 2), 100)
    table.markUnreachable('a', 150)
    expect(table.sweep(150)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    expect(table.observeState(state('a', 1, 2), 200)).toBe('stale')
    expect(table.sweep(200)).toEqual([])
    expect(table.observeState(state('a', 2, 0), 210)).toBe('restarted')
    expect(table.sweep(210)).toEqual([{ id: 'a', from: 'dead', to: 'alive' }])
  })

  test('a probe that started before the latest heartbeat is not evidence of death', () => {
    const table = new MemberTable(SELF, config)
    table.observeHeartbeat('a', beat(1, 1), 100)
    table.markUnreachable('a', 90)
    expect(table.sweep(110)).toEqual([])
    expect(table.get('a')?.status).toBe('alive')
  })

  test('marking an unknown member adds nothing', () => {
    const table = new MemberTable(SELF, config)
    table.markUnreachable('ghost', 0)
    expect(table.sweep(1)).toEqual([])
    expect(table.list()).toEqual([])
  })
})

describe('MemberTable forgetting', () => {
  test('a member is forgotten forgetAfterMs after it was last heard from, not before', () => {
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 5), 0)
    table.observeHeartbeat('b', beat(1, 1), 30_000)
    sweepEvery(table, 0, config.forgetAfterMs, 1000)
    expect(table.list().map((m) => [m.id, m.status])).toEqual([
      ['a', 'dead'],
      ['b', 'dead'],
    ])
    expect(table.sweep(config.forgetAfterMs + 1)).toEqual([])
    expect(table.list().map((m) => m.id)).toEqual(['b'])
    expect(table.countByStatus()).toEqual({ alive: 0, suspect: 0, dead: 1 })
  })

  test('a forgotten member that returns is new again', () => {
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 5), 0)
    table.sweep(config.deadAfterMs + 1)
    table.sweep(config.forgetAfterMs + 1)
    expect(table.get('a')).toBeUndefined()
    expect(table.observeState(state('a', 2, 0), config.forgetAfterMs + 2)).toBe('new')
    expect(table.sweep(config.forgetAfterMs + 2)).toEqual([])
    expect(table.get('a')?.status).toBe('alive')
  })

  test('a member forgotten without an earlier sweep seeing it die is reported dead first', () => {
    // A suspended process (a laptop lid closed for an hour) sweeps once, long after the last one.
    const table = new MemberTable(SELF, config)
    table.observeHeartbeat('a', beat(1, 1), 0)
    expect(table.sweep(0)).toEqual([])
    expect(table.sweep(config.forgetAfterMs + 1)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    expect(table.get('a')).toBeUndefined()
  })
})

describe('MemberTable with relayed liveness', () => {
  const relayed: MembershipConfig = { ...config, indirectDeadAfterMs: 60_000 }

  test('a member known only by gossip stays alive without heartbeats, until reported down', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 3), 0)
    expect(sweepEvery(table, 0, 30_000, 100)).toEqual([])
    expect(table.observeDown('a', { incarnation: 1, seq: 3 }, 'w1', 30_050)).toBe('noted')
    expect(table.observeDown('a', { incarnation: 1, seq: 3 }, 'w1', 30_060)).toBe('noted')
    expect(table.sweep(30_070)).toEqual([])
    expect(table.observeDown('a', { incarnation: 1, seq: 3 }, 'w2', 30_080)).toBe('marked')
    expect(table.sweep(30_100)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
  })

  test('a report naming a later version than any heard does not make the real states stale', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 3), 0)
    table.observeDown('a', { incarnation: 9, seq: 99 }, 'w1', 10, true)
    expect(table.sweep(20)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    expect(table.observeState(state('a', 1, 4), 30)).toBe('updated')
    expect(table.sweep(40)).toEqual([{ id: 'a', from: 'dead', to: 'alive' }])
  })

  test('one witness that could not reach the member again is enough', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 3), 0)
    expect(table.observeDown('a', { incarnation: 1, seq: 3 }, 'w1', 10, true)).toBe('marked')
    expect(table.sweep(20)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
  })

  test('a report about an older version than one heard since is stale', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 3), 0)
    expect(table.observeDown('a', { incarnation: 1, seq: 2 }, 'w1', 10)).toBe('stale')
    expect(table.observeDown('b', { incarnation: 1, seq: 2 }, 'w1', 10)).toBe('stale')
    expect(table.observeDown(SELF, { incarnation: 1, seq: 2 }, 'w1', 10)).toBe('self')
    expect(table.sweep(20)).toEqual([])
  })

  test('a newer state refutes a report, and the member is alive again', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 3), 0)
    table.observeDown('a', { incarnation: 1, seq: 3 }, 'w1', 10)
    table.observeDown('a', { incarnation: 1, seq: 3 }, 'w2', 10)
    expect(table.sweep(20)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    expect(table.observeState(state('a', 1, 4), 30)).toBe('updated')
    expect(table.sweep(40)).toEqual([{ id: 'a', from: 'dead', to: 'alive' }])
    // A witness of the old version counts for nothing against the new one.
    expect(table.observeDown('a', { incarnation: 1, seq: 3 }, 'w3', 50)).toBe('stale')
    expect(table.observeDown('a', { incarnation: 1, seq: 4 }, 'w1', 50)).toBe('noted')
  })

  test('heartbeats heard directly outweigh a report', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 3), 0)
    table.observeHeartbeat('a', beat(1, 3), 1000)
    expect(table.observeDown('a', { incarnation: 1, seq: 3 }, 'w1', 900 + HOLD)).toBe('contradicted')
    expect(table.sweep(1600)).toEqual([])
  })

  test('two reports held back by a heartbeat heard just before make the member dead once that heartbeat is too old to contradict them', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 3), 0)
    // Its regular heartbeat came just before it fell silent; its fast watchers report it soon after.
    table.observeHeartbeat('a', beat(1, 3), 1000)
    expect(table.observeDown('a', { incarnation: 1, seq: 3 }, 'w1', 900 + HOLD)).toBe('contradicted')
    expect(table.observeDown('a', { incarnation: 1, seq: 3 }, 'w2', 950 + HOLD)).toBe('contradicted')
    expect(table.sweep(1000 + HOLD)).toEqual([])
    // Not by the 2 s age rule, nor the 3 s one: the witnesses' reports stand once HOLD ms passed.
    expect(sweepEvery(table, 1001 + HOLD, 1100 + HOLD, 10)).toEqual([
      { id: 'a', from: 'alive', to: 'dead', at: 1001 + HOLD },
    ])
    expect(table.get('a')?.confirmed).toBe(true)
  })

  test('a heartbeat heard after the reports keeps outweighing them', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 3), 0)
    table.observeHeartbeat('a', beat(1, 3), 1000)
    table.observeDown('a', { incarnation: 1, seq: 3 }, 'w1', 900 + HOLD)
    table.observeDown('a', { incarnation: 1, seq: 3 }, 'w2', 950 + HOLD)
    table.observeHeartbeat('a', beat(1, 3), 990 + HOLD)
    expect(sweepEvery(table, 991 + HOLD, 1999, 10)).toEqual([])
    // A lone report held back stays a lone report.
    const lone = new MemberTable(SELF, relayed)
    lone.observeState(state('a', 1, 3), 0)
    lone.observeHeartbeat('a', beat(1, 3), 1000)
    lone.observeDown('a', { incarnation: 1, seq: 3 }, 'w1', 900 + HOLD)
    expect(sweepEvery(lone, 901 + HOLD, 1999, 10)).toEqual([])
  })

  test(`reports never make dead a member whose heartbeats keep coming within ${HOLD} ms, and make dead one that fell silent ${HOLD + 1} ms after its last`, () => {
    // Any order of heartbeats (gaps of at most HOLD ms) and witnesses' reports, swept at random.
    const event = fc.oneof(
      record({ kind: fc.constant('beat' as const), gap: fc.integer({ min: 1, max: HOLD }) }),
      record({
        kind: fc.constant('report' as const),
        witness: fc.constantFrom('w1', 'w2', 'w3'),
        gap: fc.nat(HOLD),
      }),
      record({ kind: fc.constant('sweep' as const), gap: fc.nat(HOLD) }),
    )
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), fc.boolean(), (events, silentAtEnd) => {
        const table = new MemberTable(SELF, relayed)
        table.observeState(state('a', 1, 3), 0)
        table.observeHeartbeat('a', beat(1, 3), 0)
        let now = 0
        let lastBeat = 0
        const reportsSince = new Set<string>()
        for (const e of events) {
          // Heartbeats never more than HOLD ms apart: the member beats this node all along.
          const at = Math.min(now + e.gap, lastBeat + HOLD)
          now = Math.max(now, at)
          if (e.kind === 'beat') {
            table.observeHeartbeat('a', beat(1, 3), now)
            lastBeat = now
            reportsSince.clear()
          } else if (e.kind === 'report') {
            table.observeDown('a', { incarnation: 1, seq: 3 }, e.witness, now)
            // Times are whole milliseconds: a report in the last beat's millisecond cannot be told
            // from one just before it, which the beat outweighs, and is held back alike.
            if (now > lastBeat) reportsSince.add(e.witness)
          } else table.sweep(now)
          expect(table.get('a')?.status, `at ${now}`).toBe('alive')
        }
        if (!silentAtEnd) return
        // It falls silent. Once its last heartbeat is HOLD ms old, the reports that came after it
        // count (two make it dead), and none from before it does.
        now = lastBeat + HOLD + 1
        table.sweep(now)
        expect(table.get('a')?.status).toBe(reportsSince.size >= 2 ? 'dead' : 'alive')
        for (const witness of ['w1', 'w2']) {
          now += 1
          table.observeDown('a', { incarnation: 1, seq: 3 }, witness, now)
        }
        table.sweep(now)
        expect(table.get('a')?.status).toBe('dead')
      }),
      {
        // Two reports in the last beat's millisecond (the counterexample fast-check once found).
        examples: [
          [
            [
              { kind: 'report', witness: 'w1', gap: 0 },
              { kind: 'report', witness: 'w2', gap: 0 },
            ],
            true,
          ],
        ],
      },
    )
  })

  test('a connected member ages by heartbeat; once disconnected, only by the long timeout', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeHeartbeat('a', beat(1, 1), 0)
    table.observeState(state('a', 1, 1), 0)
    expect(table.sweep(config.suspectAfterMs + 1)).toEqual([{ id: 'a', from: 'alive', to: 'suspect' }])
    table.setIndirect('a')
    expect(table.sweep(config.suspectAfterMs + 2)).toEqual([])
    expect(sweepEvery(table, 3000, 60_000, 500)).toEqual([])
    expect(table.sweep(60_001)).toEqual([])
    // The full sweep that catches the long timeout runs every 10 s.
    expect(table.sweep(70_001)).toEqual([{ id: 'a', from: 'suspect', to: 'dead' }])
  })

  test('a member suspect by heartbeat age stays suspect when its connection closes, until news of it comes', () => {
    const table = new MemberTable(SELF, relayed)
    table.observeHeartbeat('a', beat(1, 1), 0)
    table.observeState(state('a', 1, 1), 0)
    expect(table.sweep(config.suspectAfterMs + 1)).toEqual([{ id: 'a', from: 'alive', to: 'suspect' }])
    table.setIndirect('a')
    expect(table.sweep(config.suspectAfterMs + 2)).toEqual([])
    expect(table.get('a')?.status).toBe('suspect')
    expect(table.observeBeacon('a', { incarnation: 1, seq: 1 }, 5000)).toBe('unchanged')
    expect(table.sweep(5000, 'a')).toEqual([{ id: 'a', from: 'suspect', to: 'alive' }])
  })

  test("a member's beacon keeps it alive and asks for a newer state it announces", () => {
    const table = new MemberTable(SELF, relayed)
    table.observeState(state('a', 1, 1), 0)
    expect(table.observeBeacon('a', { incarnation: 1, seq: 1 }, 50_000)).toBe('unchanged')
    expect(table.observeBeacon('a', { incarnation: 1, seq: 2 }, 55_000)).toBe('needs-state')
    expect(table.observeBeacon('a', { incarnation: 1, seq: 1 }, 56_000)).toBe('stale')
    expect(sweepEvery(table, 60_000, 110_000, 1000)).toEqual([])
  })

  test('between full sweeps, a sweep leaves every member at its status by age', () => {
    // A sweep skips the watched members until one may change: that must never leave one behind.
    const step = fc.oneof(
      op,
      record({ kind: fc.constant('indirect' as const), node, dt }),
      record({ kind: fc.constant('down' as const), node, unreachable: fc.boolean(), dt }),
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const table = new MemberTable(SELF, relayed)
        table.sweep(0)
        let now = 0
        // 80 steps of at most 100 ms: all before the next full sweep, 10 s later.
        for (const s of steps) {
          now += Math.floor(s.dt / 5)
          if (s.kind === 'indirect') table.setIndirect(s.node)
          else if (s.kind === 'down') {
            const held = table.get(s.node)
            if (held !== undefined) table.observeDown(s.node, held.announced, 'w', now, s.unreachable)
          } else apply(table, s, now)
          if (s.kind !== 'sweep') continue
          for (const m of table.list()) expect(m.status).toBe(statusAt(m, now, relayed))
        }
      }),
    )
  })

  test('sweeps agree with a table that looks at every member every time', () => {
    // The watch list is only a shortcut: status must follow statusAt at every full sweep.
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const table = new MemberTable(SELF, relayed)
        let now = 0
        for (const o of ops) {
          now += o.dt * 40
          apply(table, o, now)
        }
        now += 10_001
        table.sweep(now)
        for (const m of table.list()) expect(m.status).toBe(statusAt(m, now, relayed))
      }),
    )
  })
})

describe('MemberTable: a member that leaves', () => {
  test('is dead at once, whatever its heartbeats in flight say, until it comes back newer', () => {
    const table = new MemberTable(SELF, config)
    table.observeState(state('a', 1, 3), 0)
    expect(table.observeLeft('a', { incarnation: 1, seq: 2 }, 5)).toBe('stale')
    expect(table.observeLeft(SELF, { incarnation: 1, seq: 3 }, 5)).toBe('self')
    expect(table.observeLeft('a', { incarnation: 1, seq: 3 }, 10)).toBe('marked')
    expect(table.sweep(10)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    expect(table.get('a')?.left).toBe(true)
    // A state of the same version (a replay, or one sent just before) does not bring it back.
    table.observeState(state('a', 1, 3), 20)
    expect(table.sweep(20)).toEqual([])
    // Restarted: a newer incarnation is a new life.
    expect(table.observeState(state('a', 2, 1), 30)).toBe('restarted')
    expect(table.sweep(30)).toEqual([{ id: 'a', from: 'dead', to: 'alive' }])
    expect(table.get('a')?.left).toBeUndefined()
  })
})
