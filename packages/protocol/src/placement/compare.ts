/** Code-unit order, the same on every machine (unlike `localeCompare`). */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** The map's value for the key, made and stored first if absent. */
export function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key)
  if (value === undefined) {
    value = make()
    map.set(key, value)
  }
  return value
}

/**
 * Slot order, the order of every list of slots and actions the rules give: by workload, then
 * slot, then generation (a node holds two promises for a slot while a successor starts).
 */
export const compareSlots = (
  a: { workload: string; slot: number; generation?: string },
  b: { workload: string; slot: number; generation?: string },
) =>
  compareText(a.workload, b.workload) ||
  a.slot - b.slot ||
  compareText(a.generation ?? '', b.generation ?? '')

/** In a list of `length` items ordered so that `before` holds for a prefix, the prefix's length. */
export function partitionPoint(length: number, before: (index: number) => boolean): number {
  let low = 0
  let high = length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (before(mid)) low = mid + 1
    else high = mid
  }
  return low
}
