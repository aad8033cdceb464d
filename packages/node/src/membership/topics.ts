import { listenShards, shardOf } from '@gary/protocol'
import { clusterNames } from '../net/names.js'

/** The gossip topics of membership, as one node sees them (docs/design.md, "Partial membership"). */
export interface MembershipTopics {
  /** Every member listens here, unless membership is partial: first states of an incarnation, refutations. */
  readonly state: string
  /** Where this node hears its scope's state changes: its own shard's topic and the two next to it. */
  readonly promises: readonly string[]
  /** Where this node's state changes go: its own shard's topic (the state topic, with one shard). */
  readonly publish: string
  /** The topics this node hears states on. */
  readonly states: readonly string[]
  /**
   * Where this node hears member notes: the members topic, or with partial membership the notes
   * topics of its own shard and the two next to it (a note about a member goes to its shard's).
   */
  readonly notes: readonly string[]
  /** Whether membership is partial (more than three shards): the state topic then carries nothing. */
  readonly partial: boolean
  /** The topic notes about `member` go to: with partial membership, its shard's notes topic. */
  noteTopicOf(member: string): string
}

export function membershipTopics(cluster: string, self: string, shards: number): MembershipTopics {
  const { topics } = clusterNames(cluster)
  const { state, members, membersOf } = topics
  // One shard is the whole cluster: the state topic is its topic.
  const promisesOf = (k: number) => (shards <= 1 ? state : topics.promisesOf(k))
  const listened = listenShards(self, shards)
  const promises = listened.map(promisesOf)
  const partial = shards > 3
  return {
    state,
    promises,
    publish: promisesOf(shardOf(self, shards)),
    states: partial ? promises : [...new Set([state, ...promises])],
    notes: partial ? listened.map(membersOf) : [members],
    partial,
    noteTopicOf: (member) => (partial ? membersOf(shardOf(member, shards)) : members),
  }
}
