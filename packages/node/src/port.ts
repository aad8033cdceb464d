/**
 * What the agents (membership, declarations) and their ports share: the daemon implements each
 * port over libp2p, the simulator over its simulated network.
 */

/**
 * What a node makes of a message before anyone else gets it. Accept: deliver and forward. Ignore:
 * drop, no penalty (stale, not now). Reject: drop and penalise the forwarder.
 */
export type Verdict = 'accept' | 'ignore' | 'reject'

/** How a request through a port ended: its answer, or why there is none. */
export type Result<T> = { ok: true; value: T } | { ok: false; reason: string }

/**
 * Called once when a request ends: with its answer, or with a failure at the latest after the
 * timeout it was given. Never during the call that made the request.
 */
export type Reply<T> = (result: Result<T>) => void
