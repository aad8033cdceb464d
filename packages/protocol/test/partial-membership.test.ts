import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { MemberTable, shardOf, shardsNear, sumDigest } from '../src/index.js'
import { beat, record, state } from './arbitraries.js'

// Partial membership (docs/design.md): with more than three shards a node keeps the members of
// its scope and those it is connected to, and compares member digests shard by shard.

const SHARDS = 16
const config = {
  suspectAfterMs: 2000,
  deadAfterMs: 3000,
  forgetAfterMs: 3_600_000,
  indirectDeadAfterMs: 190_000,
  shards: SHARDS,
}
const ids = Array.from({ length: 160 }, (_, i) => `node-${i}`)
const SELF = ids[0] as string
const OWN = shardOf(SELF, SHARDS)
const shardOfId = (id: string) => shardOf(id, SHARDS)
const near = (id: string) => shardsNear(OWN, shardOfId(id), SHARDS)
const others = ids.slice(1)
const inScope = others.filter(near)
const outOfScope = others.filter((id) => !near(id))

type Step =
  | { kind: 'state' | 'heartbeat'; node: string; seq: number; dt: number }
  | { kind: 'indirect' | 'unreachable'; node: string; dt: number }

const member = fc.constantFrom(...inScope.slice(0, 6), ...outOfScope.slice(0, 6))
const dt = fc.oneof(fc.constant(0), fc.nat(500), fc.nat(5000))
const step: fc.Arbitrary<Step> = fc.oneof(
  record({ kind: fc.constantFrom('state' as const, 'heartbeat' as const), node: member, seq: fc.nat(3), dt }),
  record({ kind: fc.constantFrom('indirect' as const, 'unreachable' as const), node: member, dt }),
)

function play(table: MemberTable, steps: readonly Step[]): number {
  let now = 0
  for (const s of steps) {
    now += s.dt
    if (s.kind === 'state') table.observeState(state(s.node, 1, s.seq), now)
    else if (s.kind === 'heartbeat') table.observeHeartbeat(s.node, beat(1, s.seq), now)
    else if (s.kind === 'indirect') table.setIndirect(s.node)
    else table.markUnreachable(s.node, now)
    table.sweep(now)
  }
  return now
}

describe('partial membership', () => {
  test('the shards of this test give members both in and out of scope', () => {
    expect(inScope.length).toBeGreaterThan(6)
    expect(outOfScope.length).toBeGreaterThan(6)
  })

  test('a node keeps its scope, and members out of it only while connected or dead', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const table = new MemberTable(SELF, config)
        play(table, steps)
        for (const m of table.members())
          if (!near(m.id)) expect(m.direct || m.status === 'dead', m.id).toBe(true)
        // Every member in scope whose state came is kept (nothing is old enough to forget).
        for (const s of steps) if (s.kind === 'state' && near(s.node)) expect(table.get(s.node)).toBeDefined()
      }),
    )
  })

  test('the digest for a peer covers the live members of the shards both keep', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), fc.constantFrom(...others), (steps, peer) => {
        const table = new MemberTable(SELF, config)
        play(table, steps)
        const live = [...table.members()].filter(
          (m) => m.status !== 'dead' && m.state !== undefined && near(m.id),
        )
        const ids = live.filter((m) => shardsNear(m.shard, shardOfId(peer), SHARDS)).map((m) => m.id)
        expect(table.liveDigest(peer)).toBe(sumDigest(near(peer) ? [SELF, ...ids] : ids))
        expect(table.liveDigest()).toBe(sumDigest([SELF, ...live.map((m) => m.id)]))
      }),
    )
  })

  test('a state of a member out of scope is not kept unless it is connected; one in scope is', () => {
    const table = new MemberTable(SELF, config)
    const far = outOfScope[0] as string
    const close = inScope[0] as string
    expect(table.observeState(state(far, 1, 1), 0)).toBe('stale')
    expect(table.get(far)).toBeUndefined()
    expect(table.observeState(state(close, 1, 1), 0)).toBe('new')
    // Connected: its heartbeat adds it, and its pulled state is kept.
    expect(table.observeHeartbeat(far, beat(1, 1), 10)).toBe('needs-state')
    expect(table.observeState(state(far, 1, 1), 20)).toBe('new')
    table.setIndirect(far)
    expect(table.get(far)).toBeUndefined()
    table.setIndirect(close)
    expect(table.get(close)?.status).toBe('alive')
  })

  test('two nodes compare digests over the shards both keep, and none when they keep none in common', () => {
    const apart = (d: number) =>
      others.find((id) => {
        const diff = (shardOfId(id) - OWN + SHARDS) % SHARDS
        return Math.min(diff, SHARDS - diff) === d
      }) as string
    /** The peer's table holding the members of its scope, but `missing`. */
    const tableOf = (peer: string, missing?: string) => {
      const table = new MemberTable(peer, config)
      for (const id of ids)
        if (id !== missing && shardsNear(shardOfId(peer), shardOfId(id), SHARDS))
          table.observeState(state(id, 1, 1), 0)
      return table
    }
    const mine = tableOf(SELF)
    for (const d of [0, 1, 2]) {
      const peer = apart(d)
      const theirs = tableOf(peer)
      expect(mine.sameMembers(peer, theirs.liveDigest(SELF)), `${d} shards apart`).toBe(true)
      expect(theirs.sameMembers(SELF, mine.liveDigest(peer))).toBe(true)
      // A member both keep, missing on the peer's side.
      const both = (id: string) =>
        id !== peer && near(id) && shardsNear(shardOfId(peer), shardOfId(id), SHARDS)
      const short = tableOf(peer, others.find(both))
      expect(mine.sameMembers(peer, short.liveDigest(SELF)), `${d} shards apart`).toBe(false)
    }
    const far = apart(4)
    expect(mine.sameMembers(far, tableOf(far).liveDigest(SELF))).toBeUndefined()
  })

  test('a member sync answers a peer with the live states of its scope only', () => {
    const table = new MemberTable(SELF, config)
    for (const id of inScope) table.observeState(state(id, 1, 1), 0)
    const asker = inScope.find((id) => shardOfId(id) !== OWN) as string
    const answered = table.liveStates(asker).map((s) => s.node)
    expect(answered.length).toBeGreaterThan(0)
    for (const id of answered) expect(shardsNear(shardOfId(asker), shardOfId(id), SHARDS)).toBe(true)
    expect(answered.length).toBeLessThan(inScope.length)
    expect(table.liveStates().length).toBe(inScope.length)
  })
})
