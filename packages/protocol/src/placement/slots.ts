import { hash53 } from './hash.js'
import { globalSlotKey, slotKey } from './types.js'
import type { WorkloadInfo } from './workloads.js'

/** A slot's place on the hash ring: the hash of its key. */
export const slotPosition = (workload: string, slot: number): number => hash53(slotKey(workload, slot))

/**
 * The key of the slot a node's promise is for: slot 0 of a global workload is the node's own
 * (`globalSlotKey`), any other is `slotKey`.
 */
export const promiseSlotKey = (global: boolean, promise: { workload: string; slot: number }, node: string) =>
  global && promise.slot === 0
    ? globalSlotKey(promise.workload, node)
    : slotKey(promise.workload, promise.slot)

/**
 * Why a promise is for a slot the declarations do not have: its workload is gone (`deleted`), or
 * the slot is past `replicas` (a global workload has slot 0 alone: `scaled-down`). Undefined for a
 * live slot.
 */
export function strayReason(
  workload: WorkloadInfo | undefined,
  slot: number,
): 'deleted' | 'scaled-down' | undefined {
  if (workload === undefined) return 'deleted'
  if (workload.global ? slot !== 0 : slot >= workload.replicas) return 'scaled-down'
  return undefined
}
