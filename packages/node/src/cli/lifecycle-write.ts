import type { LifecycleResult } from '../api/lifecycle-routes.js'
import type { ApiClient } from './client.js'
import { followRollouts, parseTimeout } from './follow-rollout.js'
import { print } from './options.js'

/** Prints what a scale, restart or rollback wrote and, with `--wait`, follows the rollouts. */
export async function reportWrites(
  api: ApiClient,
  options: Record<string, unknown>,
  results: LifecycleResult[],
): Promise<void> {
  print(options, results, () =>
    results
      .map((r) => `${r.name}: ${r.outcome} (revision ${r.revision}, generation ${r.generation})`)
      .join('\n'),
  )
  if (options.wait !== true) return
  const { ok } = await followRollouts(api, results, {
    timeoutMs: parseTimeout(options.timeout as string | undefined),
    json: options.json === true,
  })
  if (!ok) process.exitCode = 1
}
