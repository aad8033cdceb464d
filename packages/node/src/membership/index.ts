/**
 * Membership, free of libp2p: the agent that decides who is in the cluster and who is alive, the
 * port it speaks through, and the timings it runs on. The daemon implements the port over libp2p
 * (`membership.ts`, not exported here); the simulator over its simulated network, so both run
 * this very code.
 *
 * @example
 * ```ts
 * import { MembershipAgent, SelfState, MEMBERSHIP_DEFAULTS } from '@gary/node/membership'
 *
 * const self = new SelfState(id, incarnation, content)
 * const agent = new MembershipAgent(
 *   { cluster: 'sim', join: [seed], ...MEMBERSHIP_DEFAULTS, promiseShards: 1 },
 *   { port, clock, random, logger, self, declsDigest: () => declarations.digest },
 * )
 * agent.start()
 * network.onConnect((peer, dialled) => agent.connected(peer, dialled))
 * ```
 */
export { type Clock, systemClock } from '../clock/clock.js'
export { ClockGuard, type ClockGuardComponents, type ClockGuardInit } from '../clock/clock-guard.js'
export type { Reply, Result, Verdict } from '../port.js'
export * from '../timing.js'
export { MembershipAgent } from './agent.js'
export type { MembershipComponents, MembershipInit } from './context.js'
export { type Connections, type DialTarget, type MembershipPort, memberTarget } from './port.js'
export { SelfState } from './self-state.js'
export { shuffle } from './shuffle.js'
export { type MembershipTopics, membershipTopics } from './topics.js'
