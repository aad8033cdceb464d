import type { Refusal, SlotPromise } from '../node-state.js'
import type { Workload } from '../spec.js'
import type { ClaimIndex } from './claim-index.js'
import type { ClaimRule } from './claim-rule.js'
import type { Credence } from './credible.js'

/** One live node as the placement rules see it: what it offers and what it has promised. */
export interface PlacementNode {
  id: string
  labels: Record<string, string>
  capacity: { cpuMillis: number; memoryBytes: number }
  /** Node paths it lets bind mounts mount (`--allow-host-path`), normalised; absent: none. */
  hostPaths?: readonly string[]
  /** The slots whose named volumes it holds (`NodeState.volumes`); absent: none. */
  volumes?: readonly { workload: string; slot: number }[]
  draining: boolean
  promises: SlotPromise[]
  refusals: Refusal[]
  /** The deaths its reconcile loop has acted on (`NodeState.seenDead`); absent: none. */
  seenDead?: readonly string[]
}

/** Everything the rules read. Equal views give equal plans, whichever node computes them. */
export interface PlacementView {
  /** The node the actions are for. Only `actions` depend on it. */
  self: string
  /** Live (not deleted) declarations. */
  workloads: Workload[]
  /** Live nodes only (the caller applies membership), including self. Ids are unique. */
  nodes: PlacementNode[]
  /** Wall-clock ms now; only compared with a promise's `since.wall` for the settle delay. */
  nowWall: number
  /** True when this node sees fewer than half of the members it saw recently. */
  partialView: boolean
  /** How long the partial view has lasted, ms. */
  partialViewForMs: number
  /**
   * The live nodes other than self, indexed, kept by the caller between passes: in a large
   * cluster the pass reads only what it needs from it. Must hold exactly `nodes` but self.
   * Absent: built from `nodes`.
   */
  claims?: ClaimIndex
  /**
   * What bounds the promises that count (`credible.ts`). The caller judges the others with it
   * before they reach the view (`credibleNode`); the pass judges self with it, and releases
   * (as `lost`) whatever of its own the others do not believe. Absent: self is not judged.
   */
  credence?: Credence
  /**
   * This node's opening claims (`openingKey`): the claims of a workload's generation it made in
   * its first pass that claimed any, holding no promise of that generation before (rollouts
   * aside). Such a claim starts before the settle delay ends once every rival has answered
   * (`AnsweredClaims`). Absent: none.
   */
  openingClaims?: ReadonlySet<string>
  /**
   * This node's failover claims (`openingKey`): the claims it made in a pass that first acted on
   * a member's death (a new key in its `seenDead`), rollouts aside. Such a claim starts before the
   * settle delay ends once every rival has published that it saw those deaths too
   * (`FailoverClaims`). Absent: none.
   */
  failoverClaims?: ReadonlySet<string>
  /**
   * For this node's opening and failover claims (`openingKey`): the deaths it had acted on when it
   * made each (its `seenDead` then). Every rival must have published them before such a claim
   * starts early. Absent, or a claim absent from it: none.
   */
  claimStamps?: ReadonlyMap<string, readonly string[]>
}

export interface PlacementConfig {
  /** A claim starts only after this long without a better claim, ms. Default 300. */
  settleMs: number
  /**
   * How long a node with a partial view refrains from taking over the slots of a workload whose
   * partition policy is `minority: takeover` without an `after` of its own, ms. Default 60000.
   */
  partialViewGraceMs: number
  /** Power-of-d choices: nodes drawn from the hash ring per slot. Default 4. */
  candidates: number
  /**
   * When a workload has at most this many eligible nodes, every one of them is considered for
   * each slot, so small clusters spread perfectly; above it, `candidates` are drawn. Default 32.
   */
  considerAllUpTo: number
  /**
   * With more live nodes than this, each node decides only the slots it can win, slot by slot
   * (`planLocal`), instead of planning every slot in one exact pass. Default 32.
   */
  planLocallyAbove: number
  /**
   * Ring shards the cluster is cut into (`shards.ts`): past one, a slot is decided and held only
   * by the nodes of its shard and the next, and every pass is slot by slot. The same on every
   * node. Default 1.
   */
  shards: number
}

export const DEFAULT_PLACEMENT_CONFIG: Readonly<PlacementConfig> = Object.freeze({
  settleMs: 300,
  partialViewGraceMs: 60_000,
  candidates: 4,
  considerAllUpTo: 32,
  planLocallyAbove: 32,
  shards: 1,
})

export type ReleaseReason =
  | 'lost'
  | 'scaled-down'
  | 'deleted'
  | 'drained'
  | 'updating'
  | 'ineligible'
  /** Cut off from most of the cluster for the workload's `stopAfter` (`isolated: stop`). */
  | 'partitioned'

/** What this node does about its own promises. Nothing here concerns another node. */
export type SelfAction =
  /**
   * Publish a new `claimed` promise; `because` says why, for people. `rollout`: it replaces an
   * older generation of the slot, so its container starts on probation (`counted`, `rollout.ts`).
   */
  | { kind: 'claim'; workload: string; slot: number; generation: string; because: ClaimRule; rollout?: true }
  /**
   * The settle delay passed and the claim still wins: start the container. `unsettled`: started
   * before the delay ended, as the slot's sole candidate, (`answered`) as an opening claim that
   * every rival has answered (`AnsweredClaims`), or (`failover`) as a failover claim whose death
   * every rival has published seeing (`FailoverClaims`); publish the start at once, so that a
   * rival claim the view could not see loses to it by rule 2 while that rival still settles.
   */
  | {
      kind: 'start'
      workload: string
      slot: number
      generation: string
      unsettled?: true
      answered?: true
      failover?: true
    }
  /** Stop the container and withdraw the promise (of that generation: a node may hold two). */
  | { kind: 'release'; workload: string; slot: number; generation: string; reason: ReleaseReason }
  | { kind: 'keep'; workload: string; slot: number }

/** A slot no node can take, and every reason why, in a fixed wording and order. */
export interface Unschedulable {
  workload: string
  slot: number
  /** For a global workload: the node whose slot it is. */
  node?: string
  reasons: string[]
}

/**
 * Named buckets of slot keys (see `slotKey`), for logs and tests. Every bucket is present.
 *
 * How each live slot stood in the view (one of): `kept` (a winner on an eligible node),
 * `draining` (the winner's node drains), `ineligible` (the winner's node no longer matches the
 * constraints), `orphaned` (no claimant, but a failed or releasing promise), `free` (no promise).
 * Across those: `conflicting` (more than one claimant).
 * What the pass did: `placed` (someone claims it now, self or another node), `updating` (its
 * holder replaces it with the new generation now), `moved` (an updating slot that goes to another
 * node), `outdated` (at an old generation, waiting its turn), `update-blocked` (outdated, and no
 * node can take the new generation), `drain-blocked` (no successor can be placed; the draining
 * node keeps it), `unschedulable`.
 * Promises outside the declarations: `scaled-down` (slot past `replicas`), `deleted`.
 */
export const BUCKETS = [
  'kept',
  'draining',
  'ineligible',
  'orphaned',
  'free',
  'conflicting',
  'placed',
  'updating',
  'moved',
  'outdated',
  'update-blocked',
  'drain-blocked',
  'unschedulable',
  'scaled-down',
  'deleted',
] as const

export type BucketName = (typeof BUCKETS)[number]

export interface Plan {
  /** This node's actions: releases first, then starts, keeps and claims, each in slot order. */
  actions: SelfAction[]
  /**
   * Where every live slot lives once the plan is carried out: its winner, its successor, or the
   * node it is placed on now. Unschedulable slots are absent. Same for every node with the view.
   */
  assignment: Map<string, string>
  unschedulable: Unschedulable[]
  buckets: Record<BucketName, string[]>
}

/** The key of slot `slot` of a replicated workload: `web/3`. */
export const slotKey = (workload: string, slot: number): string => `${workload}/${slot}`

/** The key of a global workload's slot on `node`: `agent@n1` (workload names have no `@`). */
export const globalSlotKey = (workload: string, node: string): string => `${workload}@${node}`
