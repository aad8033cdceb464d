/** The position of a message in its sender's history: incarnation first, then seq. */
export interface StateVersion {
  incarnation: number
  seq: number
}

/**
 * Orders two versions of one node's state. A restart (larger incarnation) beats any seq of an
 * older incarnation, so replays of messages from before a restart are stale forever.
 */
export function compareVersions(a: StateVersion, b: StateVersion): number {
  if (a.incarnation !== b.incarnation) return a.incarnation < b.incarnation ? -1 : 1
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1
  return 0
}

/** True when `incoming` is strictly newer than `known` (or nothing is known). */
export function isNewer(incoming: StateVersion, known: StateVersion | undefined): boolean {
  return known === undefined || compareVersions(incoming, known) > 0
}
