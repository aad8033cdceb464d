import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { type NodeState, placementMoved, shardAt, slotPosition } from '../src/index.js'
import { shardPeers } from '../src/placement/waves.js'
import { workload as makeWorkload, runningPromise } from './placement-builders.js'

describe('rolling-update waves with ring shards', () => {
  test('a slot is counted among the slots of its shard, in slot order, as by hashing each slot', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 2, max: 40 }),
        fc.integer({ min: -2, max: 410 }),
        (name, replicas, shards, slot) => {
          const shard = shardAt(slotPosition(name, slot), shards)
          const peers = Array.from({ length: replicas }, (_, s) => s).filter(
            (s) => shardAt(slotPosition(name, s), shards) === shard,
          )
          const got = shardPeers(name, replicas, shards, slot)
          expect(Array.from(got.peers)).toEqual(peers)
          expect(got.at).toBe(peers.indexOf(slot))
        },
      ),
    )
  })
})

describe('placementMoved', () => {
  const w = makeWorkload('web', { replicas: 3 })
  const state = (promises: NodeState['promises']): NodeState =>
    ({ node: 'n1', incarnation: 1, seq: 1, promises, refusals: [] }) as unknown as NodeState

  test('a state whose promises are equal, in a new array, moves nothing; one changed or added does', () => {
    const promises = [runningPromise(w, 0, 1), runningPromise(w, 1, 1)]
    const before = state(promises)
    expect(placementMoved(before, state([...promises]))).toBe(false)
    expect(placementMoved(before, state(promises.map((p) => ({ ...p }))))).toBe(false)
    expect(placementMoved(before, state([promises[0]!, { ...promises[1]!, ready: false }]))).toBe(true)
    expect(placementMoved(before, state([...promises, runningPromise(w, 2, 1)]))).toBe(true)
    expect(placementMoved(before, state([promises[0]!]))).toBe(true)
  })
})
