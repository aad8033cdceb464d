import {
  encodeHeartbeat,
  encodeMemberStates,
  encodeMemberVersions,
  encodeNodeState,
  encodePeerHints,
  type Heartbeat,
  type MemberVersions,
  type NodeState,
  type PeerHints,
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

/**
 * Peer hints answers' sizes: a node gives the same answer (the same object) to many askers, and
 * nodes of one scope give the same answer (the same members) to askers of one shard. Deflating
 * each answer again was a fifth of a cluster's start at 1000 nodes.
 */
const hintSizes = new WeakMap<PeerHints, number>()
const hintSizesByContent = new Map<string, number>()

/** `encodePeerHints(hints).length`. */
export function hintsBytes(hints: PeerHints): number {
  let bytes = hintSizes.get(hints)
  if (bytes !== undefined) return bytes
  const key = hints.map((hint) => `${hint.id} ${hint.addrs.join(' ')}`).join('\n')
  bytes = hintSizesByContent.get(key)
  if (bytes === undefined) {
    bytes = encodePeerHints(hints).length
    if (hintSizesByContent.size >= 100_000) hintSizesByContent.clear()
    hintSizesByContent.set(key, bytes)
  }
  hintSizes.set(hints, bytes)
  return bytes
}

/**
 * `encodeHeartbeat(beat).length`, without encoding it: each fast beat goes to one peer, and
 * encoding every heartbeat only to count its bytes was a cost of its own at 1000 nodes. The frame
 * is two bytes, three LEB128 varints and two digests of hex digits, two a byte.
 */
export function heartbeatBytes(beat: Heartbeat): number {
  return (
    2 +
    varintBytes(beat.incarnation) +
    varintBytes(beat.seq) +
    varintBytes(beat.wall) +
    Math.ceil(beat.members.length / 2) +
    Math.ceil(beat.decls.length / 2)
  )
}

function varintBytes(value: number): number {
  let bytes = 1
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) bytes++
  return bytes
}

/** The encoder itself, for the test that holds `heartbeatBytes` to it. */
export const encodedHeartbeatBytes = (beat: Heartbeat): number => encodeHeartbeat(beat).length
