import { describe, expect, test } from 'vitest'
import { inScope, type NodeState, shardOf } from '../src/index.js'
import { ShardScope } from '../src/shard-scope.js'

const SHARDS = 8
/** Node names by shard: the first two found in each. */
const byShard: string[][] = Array.from({ length: SHARDS }, () => [])
for (let i = 0; byShard.some((names) => names.length < 2); i++) {
  const names = byShard[shardOf(`node-${i}`, SHARDS)]!
  if (names.length < 2) names.push(`node-${i}`)
}
const self = byShard[3]![0]!
const near = [byShard[2]![0]!, byShard[3]![1]!, byShard[4]![0]!]
const far = [0, 1, 5, 6, 7].map((k) => byShard[k]![0]!)
const member = (id: string, held?: number, announced = { incarnation: 1, seq: 9 }) => ({
  id,
  announced,
  ...(held === undefined ? {} : { state: { incarnation: held } }),
})

describe('ShardScope', () => {
  test('the fixture is what the tests say it is', () => {
    for (const id of near) expect(inScope(self, id, SHARDS)).toBe(true)
    for (const id of far) expect(inScope(self, id, SHARDS)).toBe(false)
  })

  test('pulls a newer state of a member in scope, of a member not held at all, and after a restart', () => {
    const scope = new ShardScope(self, SHARDS)
    for (const id of near) expect(scope.pulls(member(id, 1))).toBe(true)
    for (const id of far) {
      expect(scope.pulls(member(id, 1))).toBe(false)
      expect(scope.pulls(member(id))).toBe(true)
      expect(scope.pulls(member(id, 1, { incarnation: 2, seq: 1 }))).toBe(true)
    }
  })

  test('with one shard, every member is in scope and every newer state is pulled', () => {
    const scope = new ShardScope(self, 1)
    for (const id of [...near, ...far]) expect(scope.pulls(member(id, 1))).toBe(true)
  })

  test('checks with the member itself a state of a member in scope relayed by a peer out of its scope', () => {
    const scope = new ShardScope(self, SHARDS)
    // byShard[5] is out of scope of shard 3's node near[0] (shard 2) and in scope of near[2] (shard 4).
    const relayer = byShard[5]![0]!
    expect(scope.checks(near[0]!, relayer)).toBe(true)
    expect(scope.checks(near[2]!, relayer)).toBe(false)
    // A member this node does not follow is never checked.
    for (const id of far) expect(scope.checks(id, relayer)).toBe(false)
    expect(new ShardScope(self, 1).checks(near[0]!, relayer)).toBe(false)
  })

  test('news of a member in scope, or of a new or restarted one, calls for a pass; other news does not', () => {
    const scope = new ShardScope(self, SHARDS)
    for (const id of near) expect(scope.replans(id, 'updated')).toBe(true)
    for (const id of far) {
      expect(scope.replans(id, 'updated')).toBe(false)
      expect(scope.replans(id)).toBe(false)
      expect(scope.replans(id, 'new')).toBe(true)
      expect(scope.replans(id, 'restarted')).toBe(true)
    }
    for (const id of far) expect(new ShardScope(self, 1).replans(id)).toBe(true)
  })

  test('a newer state that changes nothing placement reads calls for no pass, whatever the shards', () => {
    const id = near[0]!
    const before: NodeState = {
      node: id,
      incarnation: 1,
      seq: 4,
      addrs: ['/ip4/10.0.0.1/tcp/4001'],
      labels: { zone: 'a' },
      capacity: { cpuMillis: 4000, memoryBytes: 2 ** 32 },
      draining: false,
      promises: [],
      refusals: [],
    }
    const promise = {
      workload: 'web',
      slot: 0,
      generation: 'g',
      phase: 'running' as const,
      since: { wall: 1, logical: 0 },
      ready: true,
      endpoints: [],
    }
    for (const scope of [new ShardScope(self, SHARDS), new ShardScope(self, 1)]) {
      const news = (after: NodeState) => scope.replans(id, 'updated', { before, after })
      // A refutation, an address change; decoded from the wire, the same fields are new objects.
      expect(news({ ...before, seq: 5 })).toBe(false)
      expect(news({ ...structuredClone(before), seq: 5, addrs: ['/ip4/10.0.0.2/tcp/4001'] })).toBe(false)
      expect(news({ ...before, seq: 5, promises: [promise] })).toBe(true)
      expect(news({ ...before, seq: 5, draining: true })).toBe(true)
      expect(news({ ...before, seq: 5, labels: { zone: 'b' } })).toBe(true)
      expect(news({ ...before, seq: 5, capacity: { cpuMillis: 2000, memoryBytes: 2 ** 32 } })).toBe(true)
      expect(scope.replans(id, 'updated', { after: before })).toBe(true)
    }
  })

  test('dials members in scope first, past the target until half of it are in scope, then the rest up to it', () => {
    const scope = new ShardScope(self, SHARDS)
    const candidates = [far[0]!, near[0]!, far[1]!, near[1]!, far[2]!].map((id) => ({ id }))
    const dial = (connected: number, held: number, target: number) =>
      scope.toDial(candidates, connected, held, target).map((m) => m.id)
    expect(dial(0, 0, 4)).toEqual([near[0], near[1], far[0], far[1]])
    expect(dial(0, 0, 2)).toEqual([near[0], far[0]])
    // At the target with none in scope: two in scope past it, no more.
    expect(dial(4, 0, 4)).toEqual([near[0], near[1]])
    // Enough in scope already: the order given, up to the target.
    expect(dial(1, 2, 4)).toEqual([far[0], near[0], far[1]])
    expect(dial(4, 2, 4)).toEqual([])
  })

  test('with one shard, the first up to the target', () => {
    const candidates = [...far, ...near].map((id) => ({ id }))
    expect(new ShardScope(self, 1).toDial(candidates, 0, 0, 32)).toEqual(candidates.slice(0, 32))
    expect(new ShardScope(self, 1).toDial(candidates, 2, 0, 4)).toEqual(candidates.slice(0, 2))
  })
})
