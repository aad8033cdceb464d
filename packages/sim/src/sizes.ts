import { encodeEnvelope, type MemberVersions, type NodeState } from '@gary/protocol'

/**
 * Sizes of the messages that carry NodeStates, as the real encoders make them, without encoding
 * the same state again for every message it rides in: a member sync answer of hundreds of states
 * was encoded whole just to be counted (7 % of a simulated partition at 300 nodes).
 */
const bodies = new WeakMap<NodeState, number>()

function bodyBytes(state: NodeState): number {
  let bytes = bodies.get(state)
  if (bytes === undefined) {
    bytes = Buffer.byteLength(JSON.stringify(state))
    bodies.set(state, bytes)
  }
  return bytes
}

/** The envelope around a body: `{"v":1,"t":kind,"b":` and `}`. */
const envelopeBytes = (kind: string): number => encodeEnvelope(kind, null).length - 'null'.length
const STATE_ENVELOPE = envelopeBytes('state')
const STATES_ENVELOPE = envelopeBytes('member-states')
const VERSIONS_ENVELOPE = envelopeBytes('member-versions')
/** `{"node":`, `,"incarnation":`, `,"seq":`, `}` around an entry's values; `,"dead":true`. */
const VERSION_FRAME = '{"node":,"incarnation":,"seq":}'.length
const DEAD_MARK = ',"dead":true'.length

/** `encodeNodeState(state).length`. */
export const stateBytes = (state: NodeState): number => STATE_ENVELOPE + bodyBytes(state)

/** `encodeMemberStates(states).length`: the bodies in a JSON array. */
export function statesBytes(states: readonly NodeState[]): number {
  let bytes = STATES_ENVELOPE + 2 + Math.max(0, states.length - 1)
  for (const state of states) bytes += bodyBytes(state)
  return bytes
}

/**
 * `encodeMemberVersions(versions).length`, for ids that JSON needs not escape (the simulator's):
 * every member sync request names every member, and encoding it to count it was most of a member
 * sync's cost at 1000 nodes.
 */
export function versionsBytes(versions: MemberVersions): number {
  let bytes = VERSIONS_ENVELOPE + 2 + Math.max(0, versions.length - 1)
  for (const { node, incarnation, seq, dead } of versions)
    bytes +=
      VERSION_FRAME + node.length + 2 + digits(incarnation) + digits(seq) + (dead === true ? DEAD_MARK : 0)
  return bytes
}

const digits = (n: number): number => (n < 10 ? 1 : n < 100 ? 2 : String(n).length)
