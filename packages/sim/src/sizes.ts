import {
  encodeMemberStates,
  encodeMemberVersions,
  encodeNodeState,
  type MemberVersions,
  type NodeState,
} from '@gary/protocol'

/**
 * Sizes of the messages that carry NodeStates, as the real encoders make them (deflated from
 * `DEFLATE_FROM_BYTES` up). A state rides in a message to each node of its scope: its size is
 * counted once per state object.
 */
const sizes = new WeakMap<NodeState, number>()

/** `encodeNodeState(state).length`. */
export function stateBytes(state: NodeState): number {
  let bytes = sizes.get(state)
  if (bytes === undefined) {
    bytes = encodeNodeState(state).length
    sizes.set(state, bytes)
  }
  return bytes
}

/** A member sync answer's size: its states deflated together. */
export const statesBytes = (states: NodeState[]): number => encodeMemberStates(states).length

/** A member sync request's size. */
export const versionsBytes = (versions: MemberVersions): number => encodeMemberVersions(versions).length
