import { z } from 'zod'
import { type Decoded, decodeEnvelope, encodeEnvelope, envelopeJson, packEnvelope } from './envelope.js'
import { compareVersions } from './freshness.js'
import { type NodeState, NodeStateSchema } from './node-state.js'

/** Largest member note accepted from the network, in bytes. */
export const MAX_MEMBER_NOTE_BYTES = 512

/**
 * A short note about one member, gossiped to every node (relayed liveness). `alive`: the member's
 * own beacon, sent now and then, proving it is up at that version (its signer must be `node`).
 * `down`: a witness connected to the member found it dead at that version; anyone may send one,
 * and the member, hearing it, refutes it by publishing a newer state. `unreachable` says how: its
 * connection closed and could not be opened again (strong evidence, enough alone), rather than
 * its heartbeats stopping (which one lossy link also does). `left`: the member itself (its signer
 * must be `node`) leaves the cluster at that version, its slots handed over: a graceful stop.
 */
export const MemberNoteSchema = z.strictObject({
  kind: z.enum(['alive', 'down', 'left']),
  node: z.string().min(1).max(128),
  incarnation: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  unreachable: z.boolean().optional(),
})

export type MemberNote = z.infer<typeof MemberNoteSchema>

export const encodeMemberNote = (note: MemberNote): Uint8Array => encodeEnvelope('member', note)
export const decodeMemberNote = (bytes: Uint8Array): Decoded<MemberNote> =>
  decodeEnvelope(bytes, 'member', MemberNoteSchema, MAX_MEMBER_NOTE_BYTES)

/** Most members a member sync names: past the largest cluster the simulator runs. */
export const MAX_SYNC_MEMBERS = 20_000
/** Largest member-sync request or answer accepted, bytes. */
export const MAX_MEMBER_SYNC_BYTES = 64 * 1024 * 1024

const memberVersion = z.strictObject({
  node: z.string().min(1).max(128),
  incarnation: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** The asker holds this member dead. */
  dead: z.boolean().optional(),
})

/**
 * A member sync request: the version of every member whose state the asker holds, those it holds
 * dead marked. A peer whose member digest differs answers with the states it holds live that are
 * newer or unknown to the asker, or that the asker holds dead (`syncAnswer`).
 */
export const MemberVersionsSchema = z.array(memberVersion).max(MAX_SYNC_MEMBERS)
export type MemberVersions = z.infer<typeof MemberVersionsSchema>

export const encodeMemberVersions = (versions: MemberVersions): Uint8Array =>
  encodeEnvelope('member-versions', versions)
export const decodeMemberVersions = (bytes: Uint8Array): Decoded<MemberVersions> =>
  decodeEnvelope(bytes, 'member-versions', MemberVersionsSchema, MAX_MEMBER_SYNC_BYTES)

/**
 * A member sync answer: other members' states as the answering peer holds them. Each is taken only
 * if newer than what the asker holds, and each member's own beacons and states overrule it.
 */
export const MemberStatesSchema = z.array(NodeStateSchema).max(MAX_SYNC_MEMBERS)

export const encodeMemberStates = (states: NodeState[]): Uint8Array => encodeEnvelope('member-states', states)
export const decodeMemberStates = (bytes: Uint8Array): Decoded<NodeState[]> =>
  decodeEnvelope(bytes, 'member-states', MemberStatesSchema, MAX_MEMBER_SYNC_BYTES)

/**
 * What a peer answers a member sync with, from the states it holds live: those unknown to the
 * asker, newer than the asker's, or of members the asker holds dead. The asker takes the newer
 * ones, and dials the members it holds dead that the peer holds live: its own connection, not the
 * peer's word, brings them back (a node cut off alone judged its old peers dead and nobody else
 * would tell it otherwise before their next beacon).
 */
export function syncAnswer(held: Iterable<NodeState>, asker: MemberVersions): NodeState[] {
  const known = new Map(asker.map((v) => [v.node, v]))
  const out: NodeState[] = []
  for (const state of held) {
    const theirs = known.get(state.node)
    if (theirs === undefined || theirs.dead === true || compareVersions(state, theirs) > 0) out.push(state)
  }
  return out
}

/**
 * A member note from gossip, checked: it decodes, and an `alive` note (a beacon) is signed by the
 * member it names. A `down` note may come from anyone: its signer is the witness.
 */
export function checkMemberNote(
  signer: string,
  data: Uint8Array,
): { ok: true; note: MemberNote } | { ok: false; reason: string } {
  const decoded = decodeMemberNote(data)
  if (!decoded.ok) return { ok: false, reason: decoded.reason }
  const refused = noteRefusal(signer, decoded.value)
  return refused === undefined ? { ok: true, note: decoded.value } : { ok: false, reason: refused }
}

/**
 * Why a decoded note gossiped by `signer` is refused, or undefined: a beacon, and a member's word
 * that it leaves, speak for their signer only.
 */
export function noteRefusal(signer: string, note: MemberNote): string | undefined {
  if (note.kind === 'alive' && note.node !== signer) return 'beacon signed by another node'
  if (note.kind === 'left' && note.node !== signer) return 'leave signed by another node'
  return undefined
}

/**
 * The states encoded within `maxBytes`: halved until they fit, so that an answer too large for the
 * asker still brings it part of what it misses (the next sync brings more).
 */
export function encodeStatesWithin(states: NodeState[], maxBytes: number): Uint8Array {
  // The limit bounds the JSON, deflated or not (`decodeEnvelope`).
  let json = envelopeJson('member-states', states)
  for (let count = states.length; json.byteLength > maxBytes && count > 0; ) {
    count = Math.floor(count / 2)
    json = envelopeJson('member-states', states.slice(0, count))
  }
  return packEnvelope(json)
}
