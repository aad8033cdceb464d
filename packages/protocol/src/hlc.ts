import type { Hlc } from './node-state.js'

/**
 * Hybrid logical clock (Kulkarni et al.): timestamps that follow wall time when clocks agree and
 * still order causally related events when they do not. The wall clock reading is an argument,
 * so this module stays pure.
 */
export const HLC_ZERO: Hlc = { wall: 0, logical: 0 }

/** The timestamp for a local event at wall time `nowMs`, after `last`. */
export function hlcTick(last: Hlc, nowMs: number): Hlc {
  if (nowMs > last.wall) return { wall: nowMs, logical: 0 }
  return { wall: last.wall, logical: last.logical + 1 }
}

/** The timestamp after receiving `remote` at wall time `nowMs`, when the local clock was `last`. */
export function hlcReceive(last: Hlc, remote: Hlc, nowMs: number): Hlc {
  const wall = Math.max(last.wall, remote.wall, nowMs)
  if (wall === last.wall && wall === remote.wall) {
    return { wall, logical: Math.max(last.logical, remote.logical) + 1 }
  }
  if (wall === last.wall) return { wall, logical: last.logical + 1 }
  if (wall === remote.wall) return { wall, logical: remote.logical + 1 }
  return { wall, logical: 0 }
}

export function hlcCompare(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1
  return 0
}
