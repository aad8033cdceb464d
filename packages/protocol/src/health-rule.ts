import type { Workload } from './spec.js'

/** A workload's health check, as far as timing goes. */
export type HealthTiming = Pick<NonNullable<Workload['health']>, 'intervalMs' | 'timeoutMs' | 'retries'>

/** What the engine reports about a running container's check: absent when it has none, or says nothing yet. */
export type ReportedHealth = 'starting' | 'healthy' | 'unhealthy' | undefined

/**
 * How long a running container may go without passing its check before it counts as failed:
 * the `retries` failed checks the engine needs to call it unhealthy, plus one more, each taking
 * at most its interval and its timeout. An engine that says nothing by then (a check that hangs,
 * a driver that reports no verdict) would otherwise keep the slot not ready, and a rollout
 * waiting, forever.
 */
export function readyBudgetMs(check: HealthTiming): number {
  return (check.retries + 1) * (check.intervalMs + check.timeoutMs)
}

export type HealthVerdict =
  | { kind: 'ready' }
  /** Not ready yet, still within its budget: look again by `untilMs` from the container's start. */
  | { kind: 'waiting'; untilMs: number }
  /** Failed: restart it by the restart policy (on probation, the rollout fails). */
  | { kind: 'failed'; reason: string }

/**
 * Rule 7 (health): a running container's standing from what the engine reports. Ready while the
 * engine says healthy, failed when it says unhealthy. With the workload's `check` (the slot runs
 * the current spec), ready at once when there is none, and failed too when it has not passed
 * within `readyBudgetMs` of starting (counted while it never passed: a container that was healthy
 * once is judged by the engine's verdict alone). Without it (a slot of an older generation, whose
 * spec the node no longer has) the engine's verdict alone decides, as far as it says anything.
 */
export function judgeHealth(
  check: HealthTiming | undefined,
  reported: ReportedHealth,
  runningForMs: number,
  everHealthy: boolean,
): HealthVerdict {
  if (reported === 'healthy') return { kind: 'ready' }
  if (reported === 'unhealthy')
    return {
      kind: 'failed',
      reason:
        check === undefined ? 'health check failed' : `health check failed ${check.retries} times in a row`,
    }
  if (check === undefined)
    return reported === undefined ? { kind: 'ready' } : { kind: 'waiting', untilMs: Number.POSITIVE_INFINITY }
  const budget = readyBudgetMs(check)
  if (everHealthy || runningForMs < budget) return { kind: 'waiting', untilMs: budget }
  return {
    kind: 'failed',
    reason: `not ready within ${formatSeconds(budget)} (its health check never passed)`,
  }
}

/**
 * How long a restarted container must have run, and been ready, before its slot shows `running`
 * again rather than `restarting`: a crash loop's container runs for moments between its attempts,
 * and must not count as serving then.
 */
export const RESTART_SETTLE_MS = 1000

/**
 * Rule 7 (phase): what a slot whose container runs promises. A slot restarted within its
 * current retry budget stays `restarting`, and not ready, until its container has run
 * `settleMs` and passed its check; otherwise it is `running`, ready as its check says.
 */
export function runningPhase(
  restartsInBudget: number,
  ready: boolean,
  runningForMs: number,
  settleMs: number = RESTART_SETTLE_MS,
): { phase: 'running' | 'restarting'; ready: boolean } {
  if (restartsInBudget > 0 && !(ready && runningForMs >= settleMs))
    return { phase: 'restarting', ready: false }
  return { phase: 'running', ready }
}

function formatSeconds(ms: number): string {
  const s = ms / 1000
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`
}
