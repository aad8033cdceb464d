import type { SlotPromise } from '../node-state.js'
import type { ClaimRule } from './claim-rule.js'
import { compareSlots } from './compare.js'
import type { EarlyStart } from './early.js'
import { strayReason } from './slots.js'
import { type Claimant, ownVerdict, type SlotStanding } from './standing.js'
import type { ReleaseReason, SelfAction } from './types.js'
import { isClaimant } from './winners.js'
import type { WorkloadInfo } from './workloads.js'

type SlotRef = { workload: string; slot: number; generation: string }

/** This node's actions as a pass decides them, listed in the order an actuator takes them. */
export class SelfActionList {
  readonly #releases: SelfAction[] = []
  readonly #starts: SelfAction[] = []
  readonly #keeps: SelfAction[] = []
  readonly #claims: SelfAction[] = []

  constructor(
    private readonly nowWall: number,
    private readonly settleMs: number,
  ) {}

  release(p: SlotRef, reason: ReleaseReason): void {
    this.#releases.push({
      kind: 'release',
      workload: p.workload,
      slot: p.slot,
      generation: p.generation,
      reason,
    })
  }

  /**
   * Rule 5: a claim starts once it has gone unchallenged for the settle delay, or at once when
   * its node is the slot's sole candidate (`SoleCandidates`), every rival has answered its
   * opening claim (`rivals.answered`: `AnsweredClaims`), or every rival has published the deaths
   * its failover claim followed (`rivals.failover`: `FailoverClaims`; both asked only of a young
   * claim, by `earlyStarts`);
   * else it is kept.
   */
  startOrKeep(p: SlotPromise, sole = false, rivals?: EarlyStart): void {
    const settled = p.since.wall <= this.nowWall - this.settleMs
    const young = !settled && !sole && p.phase === 'claimed'
    const early = young && rivals?.answered() === true
    const afterDeath = young && !early && rivals?.failover() === true
    if (p.phase !== 'claimed' || !(settled || sole || early || afterDeath)) this.keep(p)
    else {
      const start: SelfAction = {
        kind: 'start',
        workload: p.workload,
        slot: p.slot,
        generation: p.generation,
      }
      this.#starts.push(
        settled
          ? start
          : early
            ? { ...start, unsettled: true, answered: true }
            : afterDeath
              ? { ...start, unsettled: true, failover: true }
              : { ...start, unsettled: true },
      )
    }
  }

  keep(p: { workload: string; slot: number }): void {
    this.#keeps.push({ kind: 'keep', workload: p.workload, slot: p.slot })
  }

  /**
   * `because`: why, for people. `rollout`: the claim replaces an older generation of the slot, and
   * starts on probation.
   */
  claim(workload: WorkloadInfo, slot: number, because: ClaimRule, rollout = false): void {
    this.#claims.push({
      kind: 'claim',
      workload: workload.name,
      slot,
      generation: workload.generation,
      because,
      ...(rollout ? { rollout: true as const } : {}),
    })
  }

  /** Releases first, so that an actuator frees what it gives up before it takes more; then starts, keeps and claims, each in slot order. */
  list(): SelfAction[] {
    this.#claims.sort(compareSlots)
    return [...this.#releases, ...this.#starts, ...this.#keeps, ...this.#claims]
  }
}

/**
 * Decides each of node `self`'s own promises (one per slot, in slot order) by how its slot
 * stands: a stray is released as `deleted` or `scaled-down`; a claim that lost (rule 2) or whose
 * node may no longer hold the slot (rule 7, changed labels) is released; a draining holder keeps
 * its slot until the successor runs; the slot's current holder is left to `keepCurrent`, which
 * may update it (rule 8). Failed and releasing promises are the actuator's to withdraw. A node cut
 * off from most of the cluster gives up the slots of workloads whose policy stops them there.
 */
export function decideOwn<C extends Claimant>(
  own: readonly SlotPromise[],
  byName: ReadonlyMap<string, WorkloadInfo>,
  self: string,
  standingOf: (workload: WorkloadInfo, promise: SlotPromise) => SlotStanding<C> | undefined,
  keepCurrent: (workload: WorkloadInfo, promise: SlotPromise, state: SlotStanding<C>) => void,
  actions: SelfActionList,
  /** Rule 10: a node with a partial view starts no rolling update, nor ends one (per workload: its partition policy). */
  holdsBack: (workload: WorkloadInfo) => boolean = () => false,
  /** Whether the node stops its copies of the workload (its partition policy, `isolated: stop`). */
  stops: (workload: WorkloadInfo) => boolean = () => false,
): void {
  for (const promise of own) {
    const workload = byName.get(promise.workload)
    const stray = strayReason(workload, promise.slot)
    if (stray !== undefined) {
      if (promise.phase !== 'releasing') actions.release(promise, stray)
      continue
    }
    if (!isClaimant(promise)) continue
    const w = workload as WorkloadInfo
    if (stops(w)) {
      if (promise.phase !== 'releasing') actions.release(promise, 'partitioned')
      continue
    }
    const state = standingOf(w, promise)
    if (state === undefined) continue
    const verdict = ownVerdict(state, self, promise, w.global)
    if (verdict === 'current') keepCurrent(w, promise, state)
    else if (verdict === 'wait' || (verdict === 'updating' && holdsBack(w))) actions.startOrKeep(promise)
    else actions.release(promise, verdict)
  }
}
