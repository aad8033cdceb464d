import { hash53 } from './hash.js'

/**
 * Ring shards (docs/design.md, "Promises go to their ring shards"): the ring's positions cut into
 * `shards` equal arcs. A slot whose position lies in shard k is decided and held only by nodes of
 * shards k and k+1, all of which hear each other. A node publishes its state changes to its own
 * shard's topic and listens on its own and the two next to it; nodes whose shards are more than
 * one apart never need each other's promises. One shard
 * (the default) is a cluster where every node hears every state, as before shards existed.
 */

/** Ring positions (`hash53`) lie in [0, 2^53). */
const RING_SIZE = 2 ** 53
/** Most shards a cluster may be cut into. */
export const MAX_SHARDS = 4096

/** The shard of a ring position. */
export function shardAt(position: number, shards: number): number {
  if (shards <= 1) return 0
  return Math.min(shards - 1, Math.floor((position / RING_SIZE) * shards))
}

/** Where a shard ends on the ring: past every position of the shard. */
export const shardEnd = (shard: number, shards: number): number => ((shard + 1) * RING_SIZE) / shards

/** The shard of a node: that of its ring position. */
export const shardOf = (node: string, shards: number): number => shardAt(hash53(node), shards)

/**
 * The shards whose topics a node listens on: its own and the two next to it (every shard, with
 * three or fewer). It publishes its state changes to its own shard's topic alone, so that the
 * nodes that hear them are exactly those in its scope, each once (with two topics per node, one
 * to publish to and one before it, the nodes of its own shard heard each change twice).
 */
export function listenShards(node: string, shards: number): number[] {
  if (shards <= 1) return [0]
  const own = shardOf(node, shards)
  return [...new Set([(own - 1 + shards) % shards, own, (own + 1) % shards])]
}

/** Whether a node of shard `node` may decide or hold a slot of shard `slot`. */
export const decides = (node: number, slot: number, shards: number): boolean =>
  shards <= 2 || node === slot || node === (slot + 1) % shards

/** Whether two nodes hear each other's state changes: their shards are at most one apart. */
export const inScope = (a: string, b: string, shards: number): boolean =>
  shards <= 3 || shardsNear(shardOf(a, shards), shardOf(b, shards), shards)

/** `inScope` for nodes whose shards are known: at most one apart on the ring of shards. */
export function shardsNear(a: number, b: number, shards: number): boolean {
  if (shards <= 3) return true
  const distance = Math.abs(a - b)
  return distance <= 1 || distance === shards - 1
}
