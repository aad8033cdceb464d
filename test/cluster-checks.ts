import { expect } from 'vitest'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import type { DaemonProcess } from '../packages/node/src/testing/index.js'
import { DockerRuntime } from '../packages/runtime/src/docker.js'

export const docker = new DockerRuntime()

/** Every node's `gary ps --json`, without the fields that depend on when it was asked. */
export async function psEverywhere(daemons: DaemonProcess[]): Promise<SlotRow[][]> {
  return Promise.all(
    daemons.map(async (daemon) =>
      (await daemon.cli<SlotRow[]>('ps')).map(({ ageMs: _age, ...row }) => row as SlotRow),
    ),
  )
}

/** Every container each daemon's node id labels, in any state, by daemon. */
export async function allContainersOf(daemons: DaemonProcess[]) {
  return Promise.all(daemons.map((daemon) => docker.list({ [LABELS.node]: daemon.peerId })))
}

/** The running containers each daemon's node id labels, by daemon. */
export async function containersOf(daemons: DaemonProcess[]) {
  return (await allContainersOf(daemons)).map((list) => list.filter((c) => c.state === 'running'))
}

/**
 * The cluster's invariants once it has converged, or a sentence saying which one does not hold:
 * each workload runs exactly `expected` containers (INV-1), every container a node's label
 * names, in any state, is promised by that node, as running (INV-2: a leaked `created` or
 * `exited` container breaks it, but for one exited container a promised slot keeps as its
 * previous one; `converged` allows one its timeout to go), and every node lists
 * the same slots (INV-3).
 */
export async function violation(
  daemons: DaemonProcess[],
  expected: Record<string, number>,
): Promise<string | undefined> {
  const [views, containers] = await Promise.all([psEverywhere(daemons), allContainersOf(daemons)])
  const first = JSON.stringify(views[0])
  const disagreeing = views.findIndex((view) => JSON.stringify(view) !== first)
  if (disagreeing > 0) return `node ${disagreeing} lists other slots than node 0`
  const rows = views[0] ?? []
  const running = new Map<string, number>()
  for (const [index, daemon] of daemons.entries()) {
    const kept = new Set<string>()
    for (const container of containers[index] ?? []) {
      if (container.state === 'exited') {
        // A slot's last exited container is kept for `logs --previous`: one a slot the node
        // still promises, at its generation.
        const slot = `${container.labels[LABELS.workload]}/${container.labels[LABELS.slot]}/${container.labels[LABELS.generation]}`
        const held = rows.some(
          (row) =>
            row.node === daemon.peerId &&
            `${row.workload}/${row.slot}/${row.generation}` === slot &&
            row.containerId !== container.id,
        )
        if (held && !kept.has(slot)) {
          kept.add(slot)
          continue
        }
      }
      if (container.state !== 'running')
        return `container ${container.name} of node ${index} is ${container.state}, and no promise runs it`
      const workload = container.labels[LABELS.workload] ?? '?'
      running.set(workload, (running.get(workload) ?? 0) + 1)
      const promised = rows.some(
        (row) =>
          row.node === daemon.peerId &&
          row.containerId === container.id &&
          row.phase === 'running' &&
          String(row.slot) === container.labels[LABELS.slot],
      )
      if (!promised) return `container ${container.name} runs without its node's promise`
    }
  }
  for (const [workload, count] of Object.entries(expected)) {
    if ((running.get(workload) ?? 0) !== count)
      return `${workload} runs ${running.get(workload) ?? 0} containers, not ${count}`
  }
  for (const workload of running.keys()) {
    if (!(workload in expected)) return `${workload} still runs containers`
  }
  const promised = rows.filter((row) => row.phase !== 'unschedulable')
  const wanted = Object.values(expected).reduce((sum, n) => sum + n, 0)
  if (promised.length !== wanted || promised.some((row) => row.phase !== 'running' || !row.ready))
    return `the nodes promise ${promised.length} slots (${[...new Set(promised.map((r) => r.phase))].join(', ')}), not ${wanted} running`
  return undefined
}

/** Waits until the invariants hold, then checks them once more. */
export async function converged(
  daemons: DaemonProcess[],
  expected: Record<string, number>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: string | undefined = 'not checked yet'
  while (Date.now() < deadline) {
    last = await violation(daemons, expected).catch((err: Error) => err.message)
    if (last === undefined) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  expect(last, 'cluster did not converge').toBeUndefined()
  expect(await violation(daemons, expected)).toBeUndefined()
}
