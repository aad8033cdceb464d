// What the lab benchmarks share: a lab of machines with a Gary daemon each, joined through the
// first address `gary id` prints on machine 1, and counts of running containers read from every
// machine's engine.
import '../packages/node/dist/polyfill.js'
import { LABELS } from '../packages/node/dist/reconcile/container-labels.js'
import { Lab } from '../packages/node/dist/testing/lab.js'
import { waitFor } from '../packages/node/dist/testing/wait.js'

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]
export const stats = (xs) =>
  xs.length === 0 ? '-' : `${Math.min(...xs)} / ${median(xs)} / ${Math.max(...xs)}`
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A lab of `machines`, each running Gary at its defaults (and `args`), all alive everywhere. */
export async function garyLab(machines, args = []) {
  const lab = await Lab.up(machines)
  try {
    await lab.startDaemon(1, args)
    const [seed] = await lab.joinAddrs(1)
    for (const i of lab.machines.slice(1)) await lab.startDaemon(i, [...args, '--join', seed])
    await waitFor('every machine to list every machine alive', () => allAlive(lab), {
      timeoutMs: 60_000,
      intervalMs: 200,
    })
    return lab
  } catch (err) {
    await lab.down().catch(() => {})
    throw err
  }
}

export async function allAlive(lab, asked = lab.machines) {
  for (const i of asked) {
    const nodes = await lab.api(i, '/v1/nodes')
    if (nodes.length !== lab.size || nodes.some((n) => n.state !== 'alive')) return false
  }
  return true
}

/**
 * Running containers carrying `labels` on the `machines` asked (a machine that is off counts
 * none): how many, and how many distinct slots they hold (and which).
 */
export async function census(lab, machines, labels) {
  const lists = await Promise.all(
    machines.map((i) =>
      lab
        .engine(i)
        .list(labels, AbortSignal.timeout(2000))
        .catch(() => []),
    ),
  )
  const running = lists.flat().filter((c) => c.state === 'running')
  const slotSet = new Set(running.map((c) => c.labels[LABELS.slot]))
  return { total: running.length, slots: slotSet.size, slotSet }
}

/** Applies a workload on machine `i` through its API (curl inside the machine). */
export async function applyThroughApi(lab, i, text) {
  const answer = await lab.exec(i, [
    'curl',
    '-fsS',
    '--max-time',
    '10',
    '-H',
    'content-type: application/json',
    '-d',
    JSON.stringify({ text }),
    'http://127.0.0.1:7947/v1/apply',
  ])
  return JSON.parse(answer)
}
