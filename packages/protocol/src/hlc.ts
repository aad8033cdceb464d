import type { Hlc } from './node-state.js'

/**
 * Hybrid logical clock (Kulkarni et al.): timestamps that follow wall time when clocks agree and
 * still order causally related events when they do not. The wall clock reading is an argument,
 * so this module stays pure.
 *
 * Every timestamp stays within what the codec accepts (`HlcSchema`): a remote time more than the
 * maximum clock offset ahead of the local clock is refused, as CockroachDB does, so that no peer
 * can drag a node's clock (and every later write) out of range or far into the future.
 */
export const HLC_ZERO: Hlc = { wall: 0, logical: 0 }

/** The last millisecond a JavaScript Date can show (year 275760): `gary get` prints wall times as dates. */
export const MAX_HLC_WALL = 8_640_000_000_000_000
/**
 * The largest logical counter. Reaching it takes 2^32 events within one millisecond of wall time
 * (with remote times bounded, the wall clock catches up within the maximum offset); past it the
 * clock carries into the next millisecond.
 */
export const MAX_HLC_LOGICAL = 0xffff_ffff

/** What receiving a remote timestamp did to the clock. */
export type HlcReceived =
  | { ok: true; hlc: Hlc }
  /** Refused: the remote time is `aheadMs` ahead of the local wall clock, more than the maximum offset. */
  | { ok: false; aheadMs: number }

/** The timestamp for a local event at wall time `nowMs`, after `last`. */
export function hlcTick(last: Hlc, nowMs: number): Hlc {
  const now = wallReading(nowMs)
  if (now > last.wall) return { wall: now, logical: 0 }
  return successor(last)
}

/**
 * The clock after receiving `remote` at wall time `nowMs`, when it was `last`; refused when that
 * would move the clock more than `maxOffsetMs` ahead of the wall clock (or `remote` is out of the
 * codec's range). A refused timestamp leaves the clock as it was. Over any run of receives and
 * ticks the clock's wall time stays within `maxOffsetMs` of the wall clock, plus one millisecond
 * (a carry after a remote filled the logical counter), or where it already was.
 */
export function hlcReceive(last: Hlc, remote: Hlc, nowMs: number, maxOffsetMs: number): HlcReceived {
  const now = wallReading(nowMs)
  const aheadMs = remote.wall - now
  if (!isHlc(remote)) return { ok: false, aheadMs }
  const wall = Math.max(last.wall, remote.wall, now)
  let next: Hlc
  if (wall === last.wall && wall === remote.wall)
    next = successor({ wall, logical: Math.max(last.logical, remote.logical) })
  else if (wall === last.wall) next = successor(last)
  else if (wall === remote.wall) next = successor(remote)
  else next = { wall, logical: 0 }
  // The remote may not take the clock past the bound. A clock already ahead (the wall clock
  // stepped back) still ticks past a remote behind it, as a local event would; but a remote
  // ahead of it moves it no further, or a peer could walk it forward a carry at a time.
  if (next.wall > Math.min(now + maxOffsetMs, MAX_HLC_WALL) && hlcCompare(remote, last) > 0)
    return { ok: false, aheadMs }
  return { ok: true, hlc: next }
}

export function hlcCompare(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1
  return 0
}

/** Whether a value is a timestamp the codec accepts. */
export function isHlc(value: Hlc): boolean {
  return (
    Number.isSafeInteger(value.wall) &&
    Number.isSafeInteger(value.logical) &&
    value.wall >= 0 &&
    value.wall <= MAX_HLC_WALL &&
    value.logical >= 0 &&
    value.logical <= MAX_HLC_LOGICAL
  )
}

/** The next timestamp after `t` at the same wall time, carrying into the next millisecond when full. */
function successor(t: Hlc): Hlc {
  if (t.logical < MAX_HLC_LOGICAL) return { wall: t.wall, logical: t.logical + 1 }
  // Saturates only at the end of Date's range, which no wall clock reads.
  return t.wall < MAX_HLC_WALL ? { wall: t.wall + 1, logical: 0 } : t
}

/** A wall clock reading as a timestamp's wall time: whole milliseconds within the codec's range. */
function wallReading(nowMs: number): number {
  if (!(nowMs > 0)) return 0
  return Math.min(Math.floor(nowMs), MAX_HLC_WALL)
}
