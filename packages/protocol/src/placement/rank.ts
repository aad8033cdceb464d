import { hash53 } from './hash.js'
import { slotKey } from './types.js'

/** What rule 4 compares of a node that has room for a slot. */
export interface NodeLoad {
  id: string
  /** Slots of the workload the node holds (or, in the exact pass, has been given in it). */
  replicas: number
  /** The used fraction of its scarcer resource. */
  load: number
}

/**
 * Rule 4's choice between two nodes with room for slot `slot` of `workload`: fewer replicas of
 * the workload (spread), then the lower load, then the smaller hash of (slot, node), then the
 * smaller id. True when `a` is the better.
 */
export function prefers(workload: string, slot: number, a: NodeLoad, b: NodeLoad): boolean {
  const spread = a.replicas - b.replicas
  if (spread !== 0) return spread < 0
  const load = a.load - b.load
  if (load !== 0 && !Number.isNaN(load)) return load < 0
  const key = slotKey(workload, slot)
  const hashA = hash53(`${key}/${a.id}`)
  const hashB = hash53(`${key}/${b.id}`)
  if (hashA !== hashB) return hashA < hashB
  return a.id < b.id
}
