import { MAX_REPLICAS, type Workload } from '@gary/protocol'
import { SimCluster, simWorkload } from './cluster.js'

/** What one scenario run measured. Times are simulated ms; `planMs` is real time. */
export interface ScenarioResult {
  scenario: string
  nodes: number
  /** Ring shards the cluster was cut into. */
  shards: number
  replicas: number
  /** When the invariants settled, from the scenario's disturbance (or start); undefined: never. */
  convergeMs: number | undefined
  /** For scenarios that lose nodes: from the loss until the invariants held again. */
  recoverMs?: number
  /** The invariant still broken at the end, in words. */
  violation: string | undefined
  msgsPerNodePerSec: { mean: number; max: number }
  bytesPerNodePerSec: { mean: number; max: number }
  duplicateSeconds: number
  missingSeconds: number
  planMsPerNodePerSec: number
  simulatedMs: number
}

export interface ScenarioOptions {
  nodes: number
  seed: number
  /** Ring shards; default one per 32 nodes (`autoShards`). */
  shards?: number
}

type Body = (cluster: SimCluster, workloads: Workload[]) => Promise<{ from: number; recoverFrom?: number }>

/** About ten replicas per node, over five workloads (more past 5000 nodes: `MAX_REPLICAS` each). */
function workloadsFor(nodes: number): Workload[] {
  return split('app', 10 * nodes, 5)
}

/** `replicas` over at least `least` workloads named `prefix-i`, none over MAX_REPLICAS. */
function split(
  prefix: string,
  replicas: number,
  least: number,
  options?: Parameters<typeof simWorkload>[2],
): Workload[] {
  const count = Math.max(least, Math.ceil(replicas / MAX_REPLICAS))
  return Array.from({ length: count }, (_, i) =>
    simWorkload(`${prefix}-${i}`, Math.floor(replicas / count) + (i < replicas % count ? 1 : 0), options),
  )
}

async function formed(cluster: SimCluster): Promise<void> {
  for (const node of cluster.nodes) node.start()
  await cluster.run(3000)
}

/** Forms the cluster, applies every workload on one node, and waits for the invariants. */
async function deployed(cluster: SimCluster, workloads: Workload[]): Promise<number> {
  await formed(cluster)
  const from = cluster.engine.now
  cluster.nodes[0]?.apply(workloads)
  await cluster.converge(() => workloads)
  return from
}

const SCENARIOS: Record<string, Body> = {
  // Every node starts within a second, the workloads already declared on the first.
  'cold-start': async (cluster, workloads) => {
    cluster.nodes[0]?.start()
    cluster.nodes[0]?.apply(workloads)
    for (const node of cluster.nodes.slice(1))
      cluster.engine.after(cluster.random.next() * 1000, () => node.start())
    return { from: 0 }
  },
  'mass-apply': async (cluster, workloads) => {
    await formed(cluster)
    const from = cluster.engine.now
    cluster.nodes[0]?.apply(workloads)
    return { from }
  },
  'node-crash': async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const from = cluster.engine.now
    cluster.random.shuffle(cluster.nodes.slice(1)).slice(0, 1)[0]?.crash()
    return { from, recoverFrom: from }
  },
  'crash-30pct': async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const from = cluster.engine.now
    for (const node of cluster.random
      .shuffle(cluster.nodes.slice(1))
      .slice(0, Math.floor(cluster.nodes.length * 0.3)))
      node.crash()
    return { from, recoverFrom: from }
  },
  // A third of the nodes cut off for 10 s, then the network heals.
  partition: async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const ids = cluster.nodes.map((node) => node.id)
    const minority = cluster.random.shuffle(ids.slice(1)).slice(0, Math.max(1, Math.floor(ids.length / 3)))
    cluster.network.partition([ids.filter((id) => !minority.includes(id)), minority])
    await cluster.run(10_000, () => workloads)
    cluster.network.heal()
    return { from: cluster.engine.now }
  },
  // One node alone for 10 s: it must keep its own work and take nobody else's.
  'lone-node': async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const lone = cluster.nodes[cluster.nodes.length - 1]!
    const held = lone.reconciler.promises.length
    const ids = cluster.nodes.map((node) => node.id)
    cluster.network.partition([ids.filter((id) => id !== lone.id), [lone.id]])
    await cluster.run(10_000, () => workloads)
    if (lone.reconciler.promises.length > held)
      throw new Error(`the lone node took work: ${held} -> ${lone.reconciler.promises.length} slots`)
    cluster.network.heal()
    return { from: cluster.engine.now }
  },
  // A link that goes down and up every half second for 10 s.
  'flapping-link': async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const [a, b] = cluster.random.shuffle(cluster.nodes).slice(0, 2)
    for (let i = 0; i < 20; i++) {
      cluster.network.setLink(a!.id, b!.id, i % 2 === 1)
      await cluster.run(500, () => workloads)
    }
    cluster.network.setLink(a!.id, b!.id, true)
    return { from: cluster.engine.now }
  },
  // 30 % packet loss (TCP retransmits: delays of 200 ms, 400 ms...), 10 % duplicates and up to
  // 50 ms of reordering during a mass apply.
  lossy: async (cluster, workloads) => {
    await formed(cluster)
    cluster.network.config = { ...cluster.network.config, loss: 0.3, duplicate: 0.1, jitterMs: 50 }
    const from = cluster.engine.now
    cluster.nodes[0]?.apply(workloads)
    return { from }
  },
  // One node's wall clock is 5 s ahead; the others' claims must still win where they should.
  'clock-skew': async (cluster, workloads) => {
    await formed(cluster)
    const from = cluster.engine.now
    cluster.nodes[0]?.apply(workloads)
    return { from }
  },
  // Every second a node crashes and a crashed one comes back, for 20 s.
  churn: async (cluster, workloads) => {
    await deployed(cluster, workloads)
    for (let i = 0; i < 20; i++) {
      const down = cluster.nodes.filter((node) => !node.up)
      cluster.random.shuffle(cluster.up.slice(1)).slice(0, 1)[0]?.crash()
      cluster.random.shuffle(down).slice(0, 1)[0]?.start()
      await cluster.run(1000, () => workloads)
    }
    for (const node of cluster.nodes) if (!node.up) node.start()
    return { from: cluster.engine.now }
  },
}

/** More than fits: each node has room for 4 replicas of 1 cpu, and 5 per node are asked for. */
const CAPACITY = 'capacity-exhaustion'

export const SCENARIO_NAMES = [...Object.keys(SCENARIOS), CAPACITY]

export async function runScenario(name: string, options: ScenarioOptions): Promise<ScenarioResult> {
  const cluster = new SimCluster({
    nodes: options.nodes,
    seed: options.seed,
    ...(options.shards === undefined ? {} : { shards: options.shards }),
  })
  if (name === 'clock-skew') cluster.nodes[1]!.init.skewMs = 5000
  let workloads = workloadsFor(options.nodes)
  let outcome: { from: number; recoverFrom?: number }
  if (name === CAPACITY) {
    // Four fit per node: INV-1 holds once every slot that runs nowhere has no room left on any
    // node that may hold it, and no node is over-committed.
    workloads = split('big', 5 * options.nodes, 1, { resources: { cpu: 1, memory: '64Mi' } })
    outcome = await SCENARIOS['mass-apply']!(cluster, workloads)
  } else {
    const body = SCENARIOS[name]
    if (body === undefined) throw new Error(`no scenario named ${name} (known: ${SCENARIO_NAMES.join(', ')})`)
    outcome = await body(cluster, workloads)
  }
  const expected = workloads
  const settledAt = await cluster.converge(() => expected, 120_000)
  const seconds = cluster.engine.now / 1000
  const traffic = cluster.nodes.map((node) => cluster.network.traffic.get(node.id))
  const rate = (pick: (t: NonNullable<(typeof traffic)[number]>) => number) => {
    const rates = traffic.map((t) => (t === undefined ? 0 : pick(t) / seconds))
    return { mean: rates.reduce((a, b) => a + b, 0) / rates.length, max: Math.max(...rates) }
  }
  return {
    scenario: name,
    nodes: options.nodes,
    shards: cluster.shards,
    replicas: expected.reduce((sum, w) => sum + w.replicas, 0),
    convergeMs: settledAt === undefined ? undefined : Math.max(0, settledAt - outcome.from),
    ...(outcome.recoverFrom === undefined || settledAt === undefined
      ? {}
      : { recoverMs: Math.max(0, settledAt - outcome.recoverFrom) }),
    violation: cluster.violation(expected),
    msgsPerNodePerSec: rate((t) => t.msgsIn + t.msgsOut),
    bytesPerNodePerSec: rate((t) => t.bytesIn + t.bytesOut),
    duplicateSeconds: cluster.duplicateSeconds,
    missingSeconds: cluster.missingSeconds,
    planMsPerNodePerSec: cluster.planMs / options.nodes / seconds,
    simulatedMs: cluster.engine.now,
  }
}
