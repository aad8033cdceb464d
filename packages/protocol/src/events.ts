import { z } from 'zod'
import { hlcCompare } from './hlc.js'
import { HlcSchema } from './node-state.js'
import { describeClaimRule } from './placement/claim-rule.js'
import { MAX_REPLICAS, WorkloadNameSchema } from './spec.js'

/**
 * What a node did, or saw happen to a member, as it tells people (`gary events`). A node records
 * and serves only its own events: a member's death is an event of every node that saw it.
 */
export const EVENT_KINDS = [
  // Members, as this node saw them.
  'joined',
  'left',
  'suspect',
  'dead',
  'back',
  'banned',
  // Declarations this node accepted (its API took the apply or rm).
  'declared',
  'deleted',
  // This node's slots.
  'claimed',
  'started',
  'ready',
  'exited',
  'restarted',
  'refused',
  'released',
] as const

export type EventKind = (typeof EVENT_KINDS)[number]

/** Longest reason an event carries, characters. */
export const MAX_EVENT_REASON_CHARS = 512

const peerId = z.string().min(1).max(128)

export const ClaimRuleSchema = z.discriminatedUnion('rule', [
  z.strictObject({ rule: z.literal('free') }),
  z.strictObject({ rule: z.literal('failover'), of: peerId }),
  z.strictObject({ rule: z.literal('drain'), of: peerId }),
  z.strictObject({ rule: z.literal('ineligible'), of: peerId }),
  z.strictObject({ rule: z.literal('update'), wave: z.number().int().min(1).max(MAX_REPLICAS) }),
])

export const ClusterEventSchema = z.strictObject({
  /** The node that recorded it, and the only one that may serve it. */
  node: peerId,
  /** Its number on that node since the node started, from 1. */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** When, on the recording node's hybrid logical clock. */
  at: HlcSchema,
  kind: z.enum(EVENT_KINDS),
  /** The member a membership event is about. */
  member: peerId.optional(),
  workload: WorkloadNameSchema.optional(),
  slot: z
    .number()
    .int()
    .min(0)
    .max(MAX_REPLICAS - 1)
    .optional(),
  generation: z.string().min(1).max(64).optional(),
  /** `claimed`: the rule that gave the node the slot. */
  because: ClaimRuleSchema.optional(),
  /** `started`: the container's short id. */
  container: z.string().min(1).max(64).optional(),
  /** `exited`: the process's exit code, when the engine knew it. */
  code: z
    .number()
    .int()
    .min(-(2 ** 31))
    .max(2 ** 32)
    .optional(),
  /** `refused`, `released`, `left`: why. */
  reason: z.string().max(MAX_EVENT_REASON_CHARS).optional(),
})

export type ClusterEvent = z.infer<typeof ClusterEventSchema>

/** What a node says when it records an event: its id, number and time are added by the ring. */
export type EventRecord = Omit<ClusterEvent, 'node' | 'seq' | 'at'>

/**
 * The order of `gary events`: by hybrid logical clock, then node id, then the node's own number,
 * so that every node that merges the same events lists them alike.
 */
export function compareEvents(a: ClusterEvent, b: ClusterEvent): number {
  return hlcCompare(a.at, b.at) || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || a.seq - b.seq
}

/**
 * An event in one line for people, its node left out (a table shows it in a column of its own):
 * `claimed web/2: failover of beta`, `beta dead`, `exited web/1 with code 137`.
 * `name` shows a node id (a name beside a short id, say).
 */
export function describeEvent(event: ClusterEvent, name: (id: string) => string = (id) => id): string {
  const slot =
    event.workload === undefined
      ? ''
      : event.slot === undefined
        ? event.workload
        : `${event.workload}/${event.slot}`
  const reason = event.reason === undefined ? '' : `: ${event.reason}`
  switch (event.kind) {
    case 'joined':
    case 'left':
    case 'suspect':
    case 'dead':
    case 'back':
    case 'banned':
      return `${event.member === undefined ? 'member' : name(event.member)} ${event.kind}${reason}`
    case 'declared':
    case 'deleted':
      return `${event.kind} ${slot}${event.generation === undefined ? '' : ` (generation ${event.generation.slice(0, 12)})`}`
    case 'claimed':
      return `claimed ${slot}${event.because === undefined ? '' : `: ${describeClaimRule(event.because, name)}`}`
    case 'started':
      return `started ${slot}${event.container === undefined ? '' : ` (container ${event.container})`}`
    case 'ready':
      return `${slot} ready`
    case 'exited':
      return `${slot} exited${event.code === undefined ? '' : ` with code ${event.code}`}`
    case 'restarted':
    case 'refused':
    case 'released':
      return `${event.kind} ${slot}${reason}`
  }
}
