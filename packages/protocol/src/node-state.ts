import { z } from 'zod'
import { type Decoded, decodeEnvelope, encodeEnvelope } from './envelope.js'
import { MAX_HLC_LOGICAL, MAX_HLC_WALL } from './hlc.js'
import { normalisePath } from './host-path.js'

/** Largest NodeState accepted from the network, in bytes. */
export const MAX_NODE_STATE_BYTES = 128 * 1024
/** Most deaths a NodeState's `seenDead` lists. */
export const MAX_SEEN_DEAD = 16
/** Longest death key (`deathKey`): a peer id and two counts. */
export const MAX_DEATH_KEY_CHARS = 128 + 1 + 16 + 1 + 16

/**
 * A member's death as every node names it: its id and the version it last announced, so a member
 * that comes back with a newer state and dies again dies under a new key.
 */
export const deathKey = (id: string, version: { incarnation: number; seq: number }): string =>
  `${id}@${version.incarnation}.${version.seq}`

/** Largest heartbeat accepted from the network, in bytes (the binary form is at most 40). */
export const MAX_HEARTBEAT_BYTES = 64

/**
 * NodeStateSchema's bounds: most items of a list, most characters of a string. The schema and
 * `checkNodeState` (which checks the same bounds by hand) both read them from here.
 */
export const NODE_STATE_LIMITS = {
  peerIdChars: 128,
  addrs: 16,
  addrChars: 256,
  labels: 64,
  labelChars: 63,
  workloadChars: 63,
  generationChars: 64,
  promises: 4096,
  refusals: 4096,
  endpoints: 16,
  endpointChars: 256,
  containerChars: 128,
  reasonChars: 512,
  unserved: 64,
  hostPathChars: 1024,
} as const
const L = NODE_STATE_LIMITS

const peerId = z.string().min(1).max(L.peerIdChars)
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
/** A label key: alphanumeric at both ends (`checkNodeState` reads the same patterns). */
export const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/
/** A node name. */
export const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/
/** The workload of a held volume: a workload name. */
export const HELD_VOLUME_WORKLOAD = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/** A held volume's name. */
export const HELD_VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

const labelKey = z.string().max(L.labelChars).regex(LABEL_KEY, 'is not a valid label key')
const labelValue = z.string().max(L.labelChars)

/** Longest node name, characters (a DNS label's length). */
export const MAX_NODE_NAME_CHARS = 63

/**
 * A node's human name (`--name`, a hostname by default): letters, digits, `.`, `_` and `-`, so that
 * a name a peer sends can be printed in any table or log line as it is.
 */
export const NodeNameSchema = z
  .string()
  .min(1)
  .max(MAX_NODE_NAME_CHARS)
  .regex(NODE_NAME, 'is not a node name (letters, digits, . _ -)')

export const LabelsSchema = z
  .record(labelKey, labelValue)
  .refine((labels) => Object.keys(labels).length <= L.labels, `has more than ${L.labels} labels`)

export const CapacitySchema = z.strictObject({
  /** Schedulable CPU, millicores. */
  cpuMillis: count,
  /** Schedulable memory, bytes. */
  memoryBytes: count,
})

/** Milliseconds since the epoch that a JavaScript Date can show. */
const wallTime = z.number().int().nonnegative().max(MAX_HLC_WALL)

/**
 * A hybrid logical clock timestamp. Bounded below the largest safe integer so that a clock that
 * receives one can always tick past it (`hlcReceive`), and its wall time always prints as a date.
 */
export const HlcSchema = z.strictObject({
  wall: wallTime,
  logical: z.number().int().nonnegative().max(MAX_HLC_LOGICAL),
})

/**
 * `restarting`: the container exited (or turned unhealthy) and waits out its backoff before it
 * starts again, or its restarted container has not yet run for a while and passed its check; it
 * competes for its slot as a `starting` one does, and is never ready.
 */
export const PromisePhaseSchema = z.enum([
  'claimed',
  'starting',
  'running',
  'restarting',
  'failed',
  'releasing',
])

/** A node's promise that it holds one slot of a workload. */
export const SlotPromiseSchema = z.strictObject({
  workload: z.string().min(1).max(L.workloadChars),
  slot: count,
  generation: z.string().min(1).max(L.generationChars),
  phase: PromisePhaseSchema,
  since: HlcSchema,
  ready: z.boolean(),
  endpoints: z.array(z.string().max(L.endpointChars)).max(L.endpoints),
  /** The engine's id of the container keeping the promise, once there is one. */
  container: z.string().min(1).max(L.containerChars).optional(),
  /** Times the slot's container was restarted in place since it was claimed (absent: none). */
  restarts: count.optional(),
  /** The exit code of the container's last run, once it has exited. */
  exitCode: z.number().int().min(0).max(255).optional(),
  /** The last restart was for a failed health check, not an exit (absent: false). */
  unhealthy: z.literal(true).optional(),
  /**
   * A slot started by a rollout that has not yet stayed ready for the workload's `monitor`:
   * it does not count as updated yet, and a failure now fails the rollout (absent: false).
   */
  probation: z.literal(true).optional(),
})

/** A node's statement that it will not hold a workload at a generation, and why. */
export const RefusalSchema = z.strictObject({
  workload: z.string().min(1).max(L.workloadChars),
  generation: z.string().min(1).max(L.generationChars),
  reason: z.string().max(L.reasonChars),
  at: HlcSchema,
  /** The refused generation failed a rollout: a slot on probation failed (absent: false). */
  rollout: z.literal(true).optional(),
})

/** A published port a node's mesh does not serve (another process holds it...), and why. */
export const UnservedPortSchema = z.strictObject({
  port: z.number().int().min(1).max(65_535),
  protocol: z.enum(['tcp', 'udp']),
  workload: z.string().min(1).max(L.workloadChars),
  reason: z.string().max(L.reasonChars),
})

/** Most host path prefixes a node publishes (`--allow-host-path`). */
export const MAX_HOST_PATHS = 32

/** A host path prefix as a node publishes it: normalised (`normalisePath`), at most 1024 characters. */
const hostPathPrefix = z
  .string()
  .max(L.hostPathChars)
  .refine((path) => {
    const result = normalisePath(path)
    return result.ok && result.path === path
  }, 'is not a normalised absolute path')

/** One named volume a node holds for a slot (`gary volume ls`). */
export const HeldVolumeSchema = z.strictObject({
  // Printed as they come by `gary volume ls`: no character a terminal would act on.
  workload: z.string().regex(HELD_VOLUME_WORKLOAD, 'is not a workload name'),
  slot: count,
  name: z.string().regex(HELD_VOLUME_NAME, 'is not a volume name'),
  /** A container of the node mounts it now. */
  inUse: z.boolean(),
})

/** Most volumes a node publishes: the rest are counted in `volumesLeftOut`. */
export const MAX_HELD_VOLUMES = 256

/**
 * What a node promises about itself. Only the node named in `node` may publish it: receivers
 * check that it equals the message's signer (or the authenticated remote peer of a stream).
 */
export const NodeStateSchema = z.strictObject({
  node: peerId,
  /** Changes on every restart; larger is newer. */
  incarnation: count,
  /** Version of this state within the incarnation; grows on every change. */
  seq: count,
  /** The node's human name; absent from nodes that predate names. */
  name: NodeNameSchema.optional(),
  addrs: z.array(z.string().min(1).max(L.addrChars)).max(L.addrs),
  labels: LabelsSchema,
  capacity: CapacitySchema,
  draining: z.boolean(),
  promises: z.array(SlotPromiseSchema).max(L.promises),
  refusals: z.array(RefusalSchema).max(L.refusals),
  /** Published ports this node's mesh does not serve, and why (absent: it serves them all). */
  unserved: z.array(UnservedPortSchema).max(L.unserved).optional(),
  /** Node paths it lets bind mounts mount (`--allow-host-path`), normalised (absent: none). */
  hostPaths: z.array(hostPathPrefix).max(MAX_HOST_PATHS).optional(),
  /** Named volumes it holds for slots, sorted (absent: none); not read by placement. */
  volumes: z.array(HeldVolumeSchema).max(MAX_HELD_VOLUMES).optional(),
  /** Volumes it holds beyond `MAX_HELD_VOLUMES` (absent: none). */
  volumesLeftOut: count.optional(),
  /**
   * The members' deaths (`deathKey`) this node's reconcile loop has acted on, recent ones only
   * (absent: none): a rival's failover claim may start before its settle delay once every node
   * that may take the slot published them (`FailoverClaims`).
   */
  seenDead: z.array(z.string().min(1).max(MAX_DEATH_KEY_CHARS)).max(MAX_SEEN_DEAD).optional(),
})

/**
 * The small liveness message a node sends every heartbeat to each peer it is connected to. The
 * sender is the authenticated remote peer of the stream, so the message names nobody.
 */
export const HeartbeatSchema = z.strictObject({
  incarnation: count,
  /** The `seq` of the sender's current NodeState: a receiver with an older one pulls it. */
  seq: count,
  /** Digest of the members the sender knows alive (`setDigest`): a receiver whose digest differs asks it for peer hints. */
  members: z.string().regex(/^[0-9a-f]{8}$/, 'is not an 8-digit hex digest'),
  /** Digest of the sender's declaration set (`DeclStore.digest`): a receiver whose set differs pulls it. */
  decls: z.string().regex(/^[0-9a-f]{16}$/, 'is not a 16-digit hex digest'),
  /**
   * The sender's wall clock when it sent the heartbeat, ms: a node compares its clock with its
   * peers' (`PeerClocks`) and refuses writes while it is far from most of them.
   */
  wall: wallTime,
  /**
   * The sender asks for a heartbeat back at once (a roll call: it just saw a member die, and
   * counts who answers before it takes the dead member's work; `MemberTable.startRollCall`).
   */
  ask: z.literal(true).optional(),
})

export type Capacity = z.infer<typeof CapacitySchema>
export type Labels = z.infer<typeof LabelsSchema>
export type Hlc = z.infer<typeof HlcSchema>
export type SlotPromise = z.infer<typeof SlotPromiseSchema>
export type Refusal = z.infer<typeof RefusalSchema>
export type UnservedPort = z.infer<typeof UnservedPortSchema>
export type HeldVolume = z.infer<typeof HeldVolumeSchema>
export type NodeState = z.infer<typeof NodeStateSchema>
export type Heartbeat = z.infer<typeof HeartbeatSchema>

/**
 * Whether a member's newer state changes anything placement reads of it: its promises, refusals,
 * labels, capacity, host paths, draining or the deaths it has seen. A refutation of a `down` report or a change of addresses does
 * not, and starts no reconcile pass (its status change, if any, is news of its own): in a healed
 * partition every member refutes, and each refutation made every node in scope plan again.
 */
export function placementMoved(before: NodeState | undefined, after: NodeState): boolean {
  if (before === undefined) return true
  return (
    before.draining !== after.draining ||
    differ(before.promises, after.promises) ||
    differ(before.refusals, after.refusals) ||
    differ(before.capacity, after.capacity) ||
    differ(before.labels, after.labels) ||
    differ(before.hostPaths, after.hostPaths) ||
    differ(before.seenDead, after.seenDead)
  )
}

/**
 * Not the same JSON value (a decoded state is a new object even when nothing changed), compared
 * with an early exit rather than serialised: a deploy changes most promises, and each change
 * received is compared.
 */
function differ(a: unknown, b: unknown): boolean {
  if (a === b) return false
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return true
  if (Array.isArray(a) !== Array.isArray(b)) return true
  // Arrays by index: their keys as strings cost an allocation per element (a 20th of a simulated
  // deploy at 1000 nodes). The same verdict for the dense arrays a state holds.
  if (Array.isArray(a)) {
    const right = b as unknown[]
    if (a.length !== right.length) return true
    for (let i = 0; i < a.length; i++) if (differ(a[i], right[i])) return true
    return false
  }
  const keysA = Object.keys(a)
  if (keysA.length !== Object.keys(b).length) return true
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  for (const key of keysA) if (!Object.hasOwn(right, key) || differ(left[key], right[key])) return true
  return false
}

export const encodeNodeState = (state: NodeState): Uint8Array => encodeEnvelope('state', state)

/** Largest peer-hint answer accepted, bytes. */
export const MAX_PEER_HINTS_BYTES = 64 * 1024
/** Most hints one answer carries. */
export const MAX_PEER_HINTS = 64

/**
 * Where other members can be dialled, as one peer has heard. Only a hint: the dialled member
 * proves who it is (Noise) and speaks for itself; nothing about it is taken from the hint.
 */
export const PeerHintsSchema = z
  .array(z.strictObject({ id: peerId, addrs: z.array(z.string().min(1).max(L.addrChars)).max(L.addrs) }))
  .max(MAX_PEER_HINTS)

export type PeerHints = z.infer<typeof PeerHintsSchema>

export const encodePeerHints = (hints: PeerHints): Uint8Array => encodeEnvelope('peers', hints)
export const decodePeerHints = (bytes: Uint8Array): Decoded<PeerHints> =>
  decodeEnvelope(bytes, 'peers', PeerHintsSchema, MAX_PEER_HINTS_BYTES)
