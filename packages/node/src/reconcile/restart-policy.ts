import type { Workload } from '@gary/protocol'

export interface BackoffConfig {
  /** Delay before the first restart, ms. */
  baseMs: number
  /** Longest delay between restarts, ms. */
  capMs: number
  /** A container that ran this long before it exited starts a fresh retry budget, ms. */
  resetAfterMs: number
}

export const DEFAULT_BACKOFF: Readonly<BackoffConfig> = Object.freeze({
  baseMs: 250,
  capMs: 10_000,
  resetAfterMs: 10_000,
})

export type ExitDecision =
  | { restart: true; afterMs: number; attempt: number }
  | { restart: false; reason: string }

/**
 * What to do when a slot's container exited (or could not start): restart it after an
 * exponential, capped delay, or give the slot up with the reason once the policy or the retry
 * budget says so. `restarts` counts the restarts already made in the current budget.
 */
export function decideOnExit(
  restart: Workload['restart'],
  exit: { code?: number; ranForMs: number; error?: string },
  restarts: number,
  config: BackoffConfig = DEFAULT_BACKOFF,
): ExitDecision {
  const what =
    exit.error ?? (exit.code === undefined ? 'container vanished' : `exited with code ${exit.code}`)
  if (restart.policy === 'never') return { restart: false, reason: `${what}; restart policy is never` }
  if (restart.policy === 'on-failure' && exit.error === undefined && exit.code === 0) {
    return { restart: false, reason: `${what}; restart policy is on-failure` }
  }
  const used = exit.ranForMs >= config.resetAfterMs ? 0 : restarts
  if (used >= restart.maxRetries) {
    return { restart: false, reason: `${what}, ${used + 1} times in a row` }
  }
  const afterMs = Math.min(config.capMs, config.baseMs * 2 ** used)
  return { restart: true, afterMs, attempt: used + 1 }
}
