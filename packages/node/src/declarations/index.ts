/**
 * Declarations, free of libp2p: the agent that versions writes, validates and merges gossip, and
 * pulls a peer's set when its digest differs (anti-entropy), and the port it speaks through. The
 * daemon implements the port over libp2p and keeps the set in its data dir (`declarations.ts`, not
 * exported here); the simulator over its simulated network.
 *
 * @example
 * ```ts
 * import { DeclarationsAgent } from '@gary/node/declarations'
 *
 * const declarations = new DeclarationsAgent({ port, store: new DeclStore(), clock, logger, self: id })
 * onHeartbeat((peer, digest, now) => declarations.check(peer, digest, now))
 * ```
 */
export { DeclarationsAgent, type DeclarationsAgentComponents, type DeclarationsPort } from './agent.js'
