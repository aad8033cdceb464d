/**
 * Every gossip topic and stream protocol a Gary node speaks, in one place: a cluster's name is in
 * each, so that two clusters on one network never hear each other. The `1` and `1.0.0` are wire
 * versions: a change to a message's encoding moves its name.
 */
export interface ClusterNames {
  topics: {
    /** Every member's first state of an incarnation and its refutations (with one shard, every state). */
    state: string
    /** Member notes (beacons, witnesses' reports); with partial membership, `membersOf(shard)`. */
    members: string
    /** The state changes of one ring shard's nodes. */
    promisesOf(shard: number): string
    /** The member notes about one ring shard's nodes (partial membership). */
    membersOf(shard: number): string
    /** Declarations written on a node. */
    declarations: string
  }
  protocols: {
    /** Heartbeats; 1.1.0 adds the short beat (dialled first, 1.0.0 for daemons before it). */
    heartbeat: string
    heartbeatFull: string
    /** A member's own state, pulled. */
    state: string
    /** Peer hints: where the members a peer knows can be dialled. */
    peers: string
    memberSync: string
    /** A member note told to the member it is about. */
    note: string
    /** A peer's whole declaration set, pulled (anti-entropy). */
    declarationSync: string
    /** A slot's container logs, streamed from the node that holds it. */
    logs: string
    /** A node's own events (`gary events`), streamed from it. */
    events: string
    /** `gary volume rm` asked of the node that holds the volumes. */
    volumeRemoval: string
    /** Whether a peer's mesh still sends connections to a released slot (its holder asks). */
    rotation: string
  }
}

export function clusterNames(cluster: string): ClusterNames {
  const topic = (name: string) => `gary/1/${cluster}/${name}`
  const protocol = (name: string, version = '1.0.0') => `/gary/${cluster}/${name}/${version}`
  return {
    topics: {
      state: topic('state'),
      members: topic('members'),
      promisesOf: (shard) => topic(`promises/${shard}`),
      membersOf: (shard) => topic(`members/${shard}`),
      declarations: topic('decl'),
    },
    protocols: {
      heartbeat: protocol('heartbeat', '1.1.0'),
      heartbeatFull: protocol('heartbeat'),
      state: protocol('state'),
      peers: protocol('peers'),
      memberSync: protocol('member-sync'),
      note: protocol('note'),
      declarationSync: protocol('decl-sync'),
      logs: protocol('logs'),
      events: protocol('events'),
      volumeRemoval: protocol('volume-rm'),
      rotation: protocol('rotation'),
    },
  }
}
