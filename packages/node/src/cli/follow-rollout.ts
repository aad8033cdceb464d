import type { RolloutStatus } from '@gary/protocol'
import type { Command } from 'commander'
import { UserError } from '../errors.js'
import type { ApiClient } from './client.js'

/** How often a follower asks for the rollout's state, ms. */
const POLL_MS = 500
/** `--timeout`'s default: a rollout still under way then fails the command. */
export const DEFAULT_WAIT_TIMEOUT = '5m'

/** A rollout to follow: a workload and the revision a write made. */
export interface Followed {
  name: string
  revision: number
}

/** Adds `--wait` and `--timeout` to a command that writes workloads. */
export function waitOptions(command: Command): Command {
  return command
    .option(
      '--wait',
      'follow the rollout until every slot runs the new revision and is ready; exit 1 if it fails',
    )
    .option(
      '--timeout <duration>',
      `with --wait, how long to wait: 90s, 5m (default ${DEFAULT_WAIT_TIMEOUT})`,
    )
}

/** `90s`, `5m`, `1h`, `500ms`, or a number of seconds. */
export function parseTimeout(text: string | undefined): number {
  const value = text ?? DEFAULT_WAIT_TIMEOUT
  const match = /^(\d{1,9})(ms|s|m|h)?$/.exec(value.trim())
  if (match === null)
    throw new UserError(`--timeout takes a duration like 90s or 5m, not ${JSON.stringify(value)}`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h']
  return Number(match[1]) * unit
}

/** One line of progress: `web: revision 3, wave 2/5: 4/10 updated, 3/10 ready, 2 old`. */
export function progressLine(status: RolloutStatus): string {
  const counts = `${status.updated}/${status.total} updated, ${status.ready}/${status.total} ready`
  const old = status.old > 0 ? `, ${status.old} old` : ''
  const wave = status.waves > 0 ? `, wave ${status.wave}/${status.waves}` : ''
  return `${status.workload}: revision ${status.revision}${wave}: ${counts}${old}`
}

/**
 * Follows each rollout until it completes, fails or the time is up, printing a progress line
 * as it changes (rewritten in place at a terminal). True when every one completed; the reasons
 * of those that did not are printed on stderr.
 */
export async function followRollouts(
  api: ApiClient,
  rollouts: readonly Followed[],
  options: { timeoutMs: number; json: boolean },
): Promise<{ ok: boolean; statuses: RolloutStatus[] }> {
  const deadline = Date.now() + options.timeoutMs
  const tty = process.stderr.isTTY === true && !options.json
  const statuses: RolloutStatus[] = []
  let ok = true
  for (const rollout of rollouts) {
    let last = ''
    let status: RolloutStatus
    for (;;) {
      status = await api.get<RolloutStatus>(
        `/v1/rollout/${encodeURIComponent(rollout.name)}?revision=${rollout.revision}`,
      )
      const line = progressLine(status)
      if (!options.json && line !== last && status.state === 'progressing') {
        process.stderr.write(tty ? `\r\u001b[2K${line}` : `${line}\n`)
        last = line
      }
      if (status.state !== 'progressing' || Date.now() >= deadline) break
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
    if (tty && last !== '') process.stderr.write('\r\u001b[2K')
    statuses.push(status)
    if (status.state === 'complete') {
      if (!options.json)
        process.stderr.write(
          `${rollout.name}: revision ${rollout.revision} rolled out: ${status.ready}/${status.total} ready\n`,
        )
      continue
    }
    ok = false
    if (options.json) continue
    const why =
      status.state === 'failed'
        ? 'rollout failed'
        : `rollout not done after ${Math.round(options.timeoutMs / 1000)} s (${progressLine(status)})`
    process.stderr.write(`${rollout.name}: revision ${rollout.revision}: ${why}\n`)
    for (const reason of status.reasons) process.stderr.write(`  ${reason}\n`)
  }
  return { ok, statuses }
}
