import { shardAt } from './shards.js'
import { slotPosition } from './slots.js'

/** A workload's slots by ring shard, each shard's ascending, and each slot's place among them. */
interface ShardSlots {
  /** Per shard, its slots in ascending order. */
  byShard: Int32Array[]
  /** Per slot, its shard. */
  shardOf: Int32Array
  /** Per slot, its index in its shard's list. */
  rank: Int32Array
}

/** Per (workload, replicas, shards); a pure function's memo, as `slotsIn`'s. */
const memo = new Map<string, ShardSlots>()
const MAX_MEMO = 256

/**
 * The slots of `slot`'s ring shard in ascending order, and `slot`'s index among them: what a
 * rolling update's waves are counted by with shards (`mayUpdate`, `updateWave`). Hashing every
 * slot of the workload for each outdated slot a node holds was O(replicas) per slot per pass.
 */
export function shardPeers(
  name: string,
  replicas: number,
  shards: number,
  slot: number,
): { peers: Int32Array; at: number } {
  const key = `${name}\u0000${replicas}\u0000${shards}`
  let entry = memo.get(key)
  if (entry === undefined) {
    entry = build(name, replicas, shards)
    if (memo.size >= MAX_MEMO) memo.clear()
    memo.set(key, entry)
  }
  // A slot past the replicas is among no shard's slots: its index is -1, as `indexOf`'s was.
  if (!Number.isInteger(slot) || slot < 0 || slot >= replicas)
    return { peers: entry.byShard[shardAt(slotPosition(name, slot), shards)] as Int32Array, at: -1 }
  return { peers: entry.byShard[entry.shardOf[slot] as number] as Int32Array, at: entry.rank[slot] as number }
}

function build(name: string, replicas: number, shards: number): ShardSlots {
  const shardOf = new Int32Array(replicas)
  const rank = new Int32Array(replicas)
  const counts = new Int32Array(shards)
  for (let slot = 0; slot < replicas; slot++) {
    const shard = shardAt(slotPosition(name, slot), shards)
    shardOf[slot] = shard
    rank[slot] = counts[shard] as number
    counts[shard] = (counts[shard] as number) + 1
  }
  const byShard = Array.from(counts, (count) => new Int32Array(count))
  for (let slot = 0; slot < replicas; slot++)
    (byShard[shardOf[slot] as number] as Int32Array)[rank[slot] as number] = slot
  return { byShard, shardOf, rank }
}
