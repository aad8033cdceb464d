/**
 * Gary's protocol: the message schemas and codecs, and the rules every node applies to them.
 * Pure and deterministic: no I/O, no clock, no libp2p. Time comes in as an argument.
 *
 * @example
 * ```ts
 * import { MemberTable, decodeNodeState } from '@gary/protocol'
 *
 * const members = new MemberTable(myPeerId)
 * const decoded = decodeNodeState(bytes)
 * if (decoded.ok && decoded.value.node === signer) members.observeState(decoded.value, monotonicNow)
 * for (const change of members.sweep(monotonicNow)) console.log(change.id, change.from, '->', change.to)
 * ```
 */
export * from './canonical.js'
export * from './clock-offset.js'
export * from './compose/index.js'
export * from './decl-store.js'
export * from './detector.js'
export * from './did-you-mean.js'
export * from './digest.js'
export * from './envelope.js'
export * from './events.js'
export * from './freshness.js'
export * from './health-rule.js'
export * from './heartbeat-codec.js'
export * from './hlc.js'
export * from './host-path.js'
export * from './incarnation.js'
export * from './member-note.js'
export * from './members.js'
export * from './mesh/index.js'
export * from './mismatch-trigger.js'
export * from './node-state.js'
export * from './node-state-check.js'
export * from './placement/index.js'
export * from './quantity.js'
export * from './restart-rule.js'
export * from './revisions.js'
export * from './rollout-status.js'
export * from './secrets.js'
export * from './shard-scope.js'
export * from './spec.js'
export * from './spec-secrets.js'
export * from './yaml-scan.js'
