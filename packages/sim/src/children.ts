import { type ChildProcess, execFile } from 'node:child_process'
import type { ScenarioResult } from './scenarios.js'

/** One scenario run's result, and the peak memory of the process that ran it. */
export type RunOutcome = ScenarioResult & { peakRssBytes: number }

/**
 * Runs one scenario in a child process of its own, the simulator's CLI with `--json`: runs are
 * independent (each has its own cluster and seed), so a table spreads over the machine's cores.
 */
export function runInChild(
  cli: string,
  scenario: string,
  nodes: number,
  seed: number,
  shards?: number,
  trace = false,
): Promise<RunOutcome> {
  const args = [
    ...process.execArgv,
    cli,
    '--nodes',
    `${nodes}`,
    '--scenario',
    scenario,
    '--seed',
    `${seed}`,
    ...(shards === undefined ? [] : ['--shards', `${shards}`]),
    '--json',
    ...(trace ? ['--trace-loss'] : []),
  ]
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      running.delete(child)
      if (err !== null)
        reject(new Error(`${scenario} at ${nodes} nodes failed: ${stderr.trim() || err.message}`))
      else resolve(JSON.parse(stdout) as RunOutcome)
    })
    running.add(child)
  })
}

const running = new Set<ChildProcess>()

/** Ends the runs still going. */
export function stopChildren(): void {
  for (const child of running) child.kill()
}

/**
 * Runs the tasks, at most `jobs` at once, and hands each result to `onResult` in the tasks'
 * order, as soon as it and every one before it have ended.
 */
export async function inOrder<T>(
  tasks: readonly (() => Promise<T>)[],
  jobs: number,
  onResult: (result: T, index: number) => void,
): Promise<void> {
  const results: (T | undefined)[] = []
  const done: boolean[] = []
  let next = 0
  let printed = 0
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++
      results[index] = await (tasks[index] as () => Promise<T>)()
      done[index] = true
      while (done[printed]) {
        onResult(results[printed] as T, printed)
        results[printed++] = undefined
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker))
}
