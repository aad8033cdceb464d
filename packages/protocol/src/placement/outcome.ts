import type { ClaimRule } from './claim-rule.js'
import type { SlotState } from './classify.js'
import { BUCKETS, type BucketName } from './types.js'

/** What the pass decided, filled in phase by phase. */
export interface Outcome {
  assignment: Map<string, string>
  /** Slots someone claims now, in the order they were placed. */
  placed: SlotState[]
  /** Slots whose holder replaces them with the new generation now (stop-first: it releases). */
  updating: Set<string>
  /** Slots placed now to replace an older generation: their claims start on probation. */
  rollout: Set<string>
  /** Why each slot in `placed` was placed, when not because nobody keeps it: its update wave. */
  because: Map<string, ClaimRule>
  unschedulable: SlotState[]
  buckets: Record<BucketName, string[]>
}

export function emptyOutcome(): Outcome {
  const buckets = Object.fromEntries(BUCKETS.map((name) => [name, [] as string[]])) as Record<
    BucketName,
    string[]
  >
  return {
    assignment: new Map(),
    placed: [],
    updating: new Set(),
    rollout: new Set(),
    because: new Map(),
    unschedulable: [],
    buckets,
  }
}
