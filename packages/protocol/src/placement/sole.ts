import type { WorkloadInfo } from './workloads.js'

/**
 * Rule 5's exception: a claim whose slot no other node in the view may take starts without the
 * settle delay, since no rival claim can be on its way. A global slot belongs to its node alone;
 * a replicated one has no rival when every other node is kept off by what does not change while
 * it runs: the workload's constraints (labels change only with a restart, after which a node
 * claims nothing until its view is complete) or its refusal of this generation. Draining does
 * not count, since it is switched on and off at any time: two nodes undrained at once, each
 * still seeing the other drain, would both start. Nor does capacity: room comes back as soon as
 * a slot is released. A rival the view cannot see claims with the settle delay, and the early
 * start, published at once, outranks that claim by rule 2 (`starting` beats `claimed`) before the
 * delay ends.
 */
export class SoleCandidates {
  readonly #known = new Map<string, boolean>()

  constructor(
    /**
     * Whether a node other than this one may take a slot of the workload (rule 4, capacity
     * aside); undefined when the view holds only part of the cluster, so a rival may be unseen.
     */
    private readonly rivalMayTake: ((workload: WorkloadInfo) => boolean) | undefined,
  ) {}

  /** Whether this node is the only one that may hold a slot of `workload`. */
  of(workload: WorkloadInfo): boolean {
    if (workload.global) return true
    if (this.rivalMayTake === undefined) return false
    let sole = this.#known.get(workload.name)
    if (sole === undefined) {
      sole = !this.rivalMayTake(workload)
      this.#known.set(workload.name, sole)
    }
    return sole
  }
}
