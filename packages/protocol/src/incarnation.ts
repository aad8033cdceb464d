import { MAX_HLC_WALL } from './hlc.js'

/** The largest incarnation the codec accepts. */
export const MAX_INCARNATION = Number.MAX_SAFE_INTEGER

/**
 * The incarnation a node starts with (and, when the file held no number, what was repaired), or
 * why it cannot start.
 */
export type NextIncarnation =
  | { ok: true; incarnation: number; repaired?: string }
  | { ok: false; reason: string }

/**
 * The incarnation a node starts with, from what its data dir's `incarnation` file holds
 * (`undefined`: no file, a first start) and the wall clock: larger than the previous one, so that
 * its peers take every message of the earlier life for a replay, and never below the wall clock,
 * so that it grows even when the file is lost.
 *
 * A number that leaves no larger one the codec accepts is refused, not repaired: the node may
 * have run with it, and any smaller incarnation would make the members that knew it take its new
 * messages for replays and hold it dead, with nothing said anywhere. A file that holds no number
 * at all is repaired from the wall clock, as a lost file is (incarnations follow the wall clock,
 * so the lost one was almost surely below it), and the repair is said.
 */
export function incarnationAfter(previousText: string | undefined, wallNowMs: number): NextIncarnation {
  // A wall clock out of any date's range does not count; the file alone still moves forward.
  const wall = wallNowMs > 0 ? Math.min(Math.floor(wallNowMs), MAX_HLC_WALL) : 0
  if (previousText === undefined) return { ok: true, incarnation: Math.max(1, wall) }
  const trimmed = previousText.trim()
  if (!/^\d+$/.test(trimmed)) {
    const shown = trimmed.length > 40 ? `${trimmed.slice(0, 40)}...` : trimmed
    return {
      ok: true,
      incarnation: Math.max(1, wall),
      repaired: `held ${JSON.stringify(shown)}, not a whole number`,
    }
  }
  const previous = Number(trimmed)
  if (!(previous < MAX_INCARNATION)) {
    const shown = trimmed.length > 40 ? `${trimmed.slice(0, 40)}...` : trimmed
    return {
      ok: false,
      reason: `holds ${shown}, which leaves no larger incarnation to start with (peers accept at most ${MAX_INCARNATION})`,
    }
  }
  return { ok: true, incarnation: Math.max(previous + 1, wall) }
}
