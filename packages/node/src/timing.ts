import { BEACON_INTERVAL_MS, DEFAULT_MEMBERSHIP, INDIRECT_DEAD_AFTER_MS } from '@gary/protocol'

/**
 * Every timing of membership and declarations, in one place: the daemon and the simulator run the
 * agents that read them. The beacon and relayed-liveness ages are rules of the member table, and
 * live beside it in `@gary/protocol`.
 */

/** The daemon's defaults for the timings a user may set (`--heartbeat-ms` and the rest). */
export const MEMBERSHIP_DEFAULTS = {
  heartbeatMs: 1000,
  suspectAfterMs: DEFAULT_MEMBERSHIP.suspectAfterMs,
  deadAfterMs: DEFAULT_MEMBERSHIP.deadAfterMs,
  /** Direct connections to keep: heartbeats travel over them. */
  targetPeers: 32,
} as const

/** A dead member is forgotten this long after it was last heard from. */
export const FORGET_AFTER_MS = DEFAULT_MEMBERSHIP.forgetAfterMs
export { BEACON_INTERVAL_MS, INDIRECT_DEAD_AFTER_MS }

/** How often the member table is swept for members turning suspect or dead by heartbeat age. */
export const SWEEP_MS = 100
export const DIAL_TIMEOUT_MS = 3000
/** The one redial of a peer whose last connection closed: refused or silent within this, it is dead. */
export const PROBE_TIMEOUT_MS = 1000
export const TELL_TIMEOUT_MS = 3000
/**
 * This often, even at `targetPeers`, a few members held dead are dialled: one judged dead on a
 * lossy link, or across a healed partition, comes back without waiting for its beacon.
 */
export const DEAD_REDIAL_MS = 5000
export const DEAD_CHECKS = 4
export const MAX_PARALLEL_DIALS = 8
/** This node refutes reports of its death at most this often (several witnesses report at once). */
export const REFUTE_EVERY_MS = 1000
/** Member digests differing this long start a member sync; at most one runs per this interval. */
export const MEMBER_SYNC_AFTER_MS = 1000
/**
 * A witness reports a death after a random delay up to this, and only if no other witness's report
 * came first: a crashed member has a witness per connection, and each report goes to every member.
 */
export const REPORT_JITTER_MS = 100
/**
 * While member digests differ, this node asks one peer for hints at most this often: asking every
 * differing peer made each join cost O(N^2) streams, and past 20 nodes on 2 cores the load fed on
 * itself (late heartbeats, suspects, more asks).
 */
export const ASK_PEERS_EVERY_MS = 500

/**
 * How long a peer's declaration digest may differ from ours before we pull its set (longer than
 * gossip takes to deliver a write), and how often one peer's set is pulled at most.
 */
export const DECL_SYNC_AFTER_MS = 1000
export const DECL_SYNC_TIMEOUT_MS = 5000
