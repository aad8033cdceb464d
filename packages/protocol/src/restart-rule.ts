import type { Workload } from './spec.js'

export interface BackoffConfig {
  /** Delay before the first restart, ms. */
  baseMs: number
  /** Longest delay between restarts, ms. */
  capMs: number
  /** A container that ran (or, with a health check, stayed healthy) this long starts a fresh retry budget, ms. */
  resetAfterMs: number
}

export const DEFAULT_BACKOFF: Readonly<BackoffConfig> = Object.freeze({
  baseMs: 250,
  capMs: 10_000,
  resetAfterMs: 10_000,
})

/**
 * Why a slot's container stopped serving:
 * - `exited`: its process ended by itself (`code`; absent when the container vanished), after
 *   running `ranForMs`;
 * - `unhealthy`: it runs, but its health check failed (`reason`); `healthyForMs` is how long it
 *   had passed the check, 0 when it never did (a check that never passes must use the budget up,
 *   however long each attempt takes to fail);
 * - `not-started`: the engine could not start it (`error`).
 */
export type SlotFailure =
  | { kind: 'exited'; code?: number; ranForMs: number }
  | { kind: 'unhealthy'; reason: string; healthyForMs: number }
  | { kind: 'not-started'; error: string }

export type RestartDecision =
  | { restart: true; afterMs: number; attempt: number }
  | { restart: false; reason: string }

/** The failure in words, as a refusal's reason and `gary ps` say it. */
export function describeFailure(failure: SlotFailure): string {
  switch (failure.kind) {
    case 'exited':
      return failure.code === undefined ? 'container vanished' : `exited with code ${failure.code}`
    case 'unhealthy':
      return `unhealthy: ${failure.reason}`
    case 'not-started':
      return failure.error
  }
}

/**
 * Rule 6's restart half: what to do when a slot's container failed. Restart it after an
 * exponential, capped delay, or give the slot up with the reason once the policy or the retry
 * budget says so. `restarts` counts the restarts already made in the current budget; a container
 * that served well for `resetAfterMs` (ran, or stayed healthy when it has a check) starts a
 * fresh one. An unhealthy container is a failure for `on-failure`, as a non-zero exit is.
 */
export function decideRestart(
  restart: Workload['restart'],
  failure: SlotFailure,
  restarts: number,
  config: BackoffConfig = DEFAULT_BACKOFF,
): RestartDecision {
  const what = describeFailure(failure)
  if (restart.policy === 'never') return { restart: false, reason: `${what}; restart policy is never` }
  if (restart.policy === 'on-failure' && failure.kind === 'exited' && failure.code === 0) {
    return { restart: false, reason: `${what}; restart policy is on-failure` }
  }
  const servedMs =
    failure.kind === 'exited' ? failure.ranForMs : failure.kind === 'unhealthy' ? failure.healthyForMs : 0
  const used = servedMs >= config.resetAfterMs ? 0 : restarts
  if (used >= restart.maxRetries) {
    return { restart: false, reason: `${what}, ${used + 1} times in a row` }
  }
  const afterMs = Math.min(config.capMs, config.baseMs * 2 ** used)
  return { restart: true, afterMs, attempt: used + 1 }
}
