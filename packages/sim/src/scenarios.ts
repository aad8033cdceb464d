import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  generationOf,
  type Hlc,
  isClaimant,
  MAX_REPLICAS,
  type NodeState,
  type Workload,
} from '@gary/protocol'
import { SimCluster, simWorkload } from './cluster.js'
import type { SimNode } from './sim-node.js'

/** What one scenario run measured. Times are simulated ms; `planMs` is real time. */
export interface ScenarioResult {
  scenario: string
  nodes: number
  /** Ring shards the cluster was cut into. */
  shards: number
  replicas: number
  /** When the invariants settled, from the scenario's disturbance (or start); undefined: never. */
  convergeMs: number | undefined
  /**
   * For scenarios that lose nodes: from the loss until every live node that holds a lost node
   * holds it dead (timed to the simulated ms); null when some node never did.
   */
  lossSeenMs?: number | null
  /** The invariant still broken at the end, or the scenario's own check that failed, in words. */
  violation: string | undefined
  msgsPerNodePerSec: { mean: number; max: number }
  bytesPerNodePerSec: { mean: number; max: number }
  duplicateSeconds: number
  missingSeconds: number
  /** Lying-member scenarios: replica-seconds missing while the member lied, before its ban. */
  missingWhileLyingSeconds?: number
  /** With `trace`: what every node did about the first node lost, in lines. */
  trace?: string
  planMsPerNodePerSec: number
  simulatedMs: number
}

export interface ScenarioOptions {
  nodes: number
  seed: number
  /** Ring shards; default one per 32 nodes (`autoShards`). */
  shards?: number
  /** Trace what every node did about the first node lost (`MemberTrace`), into the result. */
  trace?: boolean
}

/** What a scenario's body did, for `runScenario` to measure and check. */
interface Outcome {
  /** When the disturbance happened or ended (the apply, the loss, the heal): times count from it. */
  from: number
  /** Nodes lost at `from`: when every live node held them dead. */
  loss?: { at: number | undefined }
  /** What must run in the end, when not the scenario's workloads. */
  expected?: Workload[]
  /** The scenario's own check once the invariants hold: a sentence when it fails. */
  check?: () => string | undefined
  /** Replica-seconds missing while a member lied. */
  missingWhileLying?: number
}

type Body = (cluster: SimCluster, workloads: Workload[]) => Promise<Outcome>

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

/**
 * The loss of `count` random nodes other than the first: a process crash (connections reset,
 * redials refused) or, `silent`, a machine that vanishes (its peers hear only silence).
 */
function loss(count: (nodes: number) => number, silent: boolean): Body {
  return async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const from = cluster.engine.now
    const lost = cluster.random.shuffle(cluster.nodes.slice(1)).slice(0, count(cluster.nodes.length))
    if (lost[0] !== undefined) cluster.trace?.follow(lost[0].id)
    for (const node of lost) node.crash({ silent })
    return { from, loss: seenDead(cluster, lost) }
  }
}

/** When every live node holds each of `lost` dead, or does not hold it at all (timed to the ms). */
function seenDead(cluster: SimCluster, lost: readonly SimNode[]): { at: number | undefined } {
  const seen: { at: number | undefined } = { at: undefined }
  // Per live node, the first lost node it does not hold dead yet: a lost node stays lost.
  let pending = cluster.up.map((node) => ({ node, next: 0 }))
  cluster.watch(() => {
    pending = pending.filter((p) => {
      for (; p.next < lost.length; p.next++) {
        const status = p.node.table.get((lost[p.next] as SimNode).id)?.status
        if (status !== undefined && status !== 'dead') return true
      }
      return false
    })
    if (pending.length > 0) return false
    seen.at = cluster.engine.now
    return true
  }, 1)
  return seen
}

/** The slots a node promises, as one comparable string. */
const slotsOf = (node: SimNode) =>
  node.reconciler.promises
    .map((p) => `${p.workload}/${p.slot}`)
    .sort()
    .join(' ')

/** A link cut for this long is past the dead threshold (3 s): each end judges the other. */
const FLAP_DOWN_MS = 4000
const FLAP_UP_MS = 1000
const FLAPS = 4

/** How far the skewed nodes' clocks are off: longer than the scenario, so that it decides. */
const SKEW_MS = 60_000

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
  // An update whose containers exit at once: its first wave fails on probation, and the nodes
  // that saw it declare the previous revision again; every node ends running v1, as declared.
  'failed-rollout': async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const from = cluster.engine.now
    const broken = workloads.map((w) => ({ ...w, command: ['exit', '3'] }))
    cluster.nodes[0]?.apply(broken)
    const generations = new Map(workloads.map((w) => [w.name, generationOf(w)]))
    const check = () => {
      for (const node of cluster.up) {
        for (const w of workloads) {
          const entry = node.decls.get(w.name)
          if (entry?.workload === undefined || generationOf(entry.workload) !== generations.get(w.name))
            return `${node.id} declares ${w.name} at another generation than v1`
          if (entry.rollback === undefined) return `${node.id} holds ${w.name} without the rollback`
        }
        for (const p of node.reconciler.promises)
          if (p.generation !== generations.get(p.workload))
            return `${node.id} runs ${p.workload}/${p.slot} at v2`
      }
      return undefined
    }
    return { from, check }
  },
  'process-crash': loss(() => 1, false),
  'machine-loss': loss(() => 1, true),
  'process-crash-30pct': loss((nodes) => Math.floor(nodes * 0.3), false),
  'machine-loss-30pct': loss((nodes) => Math.floor(nodes * 0.3), true),
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
  // One node alone for 10 s: at every sample it holds the slots it held, no more and no fewer.
  'lone-node': async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const lone = cluster.nodes[cluster.nodes.length - 1] as SimNode
    const held = slotsOf(lone)
    const ids = cluster.nodes.map((node) => node.id)
    cluster.network.partition([ids.filter((id) => id !== lone.id), [lone.id]])
    let alone = true
    cluster.watch(() => {
      const now = slotsOf(lone)
      if (now !== held)
        throw new Error(`the lone node's slots changed at ${cluster.engine.now} ms: [${held}] -> [${now}]`)
      return !alone
    })
    await cluster.run(10_000, () => workloads)
    alone = false
    cluster.network.heal()
    return { from: cluster.engine.now }
  },
  // A link down 4 s (past the dead threshold) and up 1 s, four times; then up for good.
  'flapping-link': async (cluster, workloads) => {
    await deployed(cluster, workloads)
    // Two nodes connected to each other (past `targetPeers` most pairs hear each other only by
    // relayed liveness, and cutting their link would change nothing) and in each other's scope
    // (with partial membership, a node forgets a member out of scope once it hangs up on it).
    const a = cluster.random.pick(cluster.nodes)
    const near = (x: SimNode) => {
      const apart = (x.shard - a.shard + cluster.shards) % cluster.shards
      return cluster.shards <= 3 || apart <= 1 || apart === cluster.shards - 1
    }
    const links = [...a.links.values()].sort((x, y) => (x.id < y.id ? -1 : 1))
    const b = cluster.random.pick(links.some(near) ? links.filter(near) : links)
    const judged = { a: false, b: false }
    cluster.watch(() => {
      judged.a ||= a.table.get(b.id)?.status === 'dead'
      judged.b ||= b.table.get(a.id)?.status === 'dead'
      return judged.a && judged.b
    })
    for (let i = 0; i < FLAPS; i++) {
      cluster.network.setLink(a.id, b.id, false)
      await cluster.run(FLAP_DOWN_MS, () => workloads)
      cluster.network.setLink(a.id, b.id, true)
      if (i < FLAPS - 1) await cluster.run(FLAP_UP_MS, () => workloads)
    }
    return {
      from: cluster.engine.now,
      check: () =>
        judged.a && judged.b ? undefined : 'the flapping link never made both its ends hold the other dead',
    }
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
  // A member lies: `running` since the epoch for every slot, and room for all of them. The
  // credible rules leave the lie out; after 10 s the member is banned.
  'lying-member': lying(() => ({ wall: 1, logical: 0 })),
  // As the lie above, with the oldest `since` the rules believe (its generation's declaration,
  // less the offset bound): it takes slots until it is banned.
  'lying-member-credible': lying((at) => ({ wall: at.wall - DEFAULT_MAX_CLOCK_OFFSET_MS, logical: 0 })),
  // The second node's wall clock is a minute ahead, the third's a minute behind (`runScenario`).
  'clock-skew': rivals,
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

/**
 * A workload's partition policy, for each kind of policy: a third of the nodes (a minority: each
 * sees fewer than half) is cut off for `cutMs` with every workload under `policy`, then the
 * network heals. At every sample, no minority node holds a slot it did not hold at the cut
 * unless the policy takes over; `atEnd` checks the minority's slots as the cut ends.
 */
function partitionUnder(
  policy: Record<string, string>,
  cutMs: number,
  atEnd: (held: Map<SimNode, Set<string>>, minority: SimNode[]) => string | undefined,
): Body {
  return async (cluster, plain) => {
    const workloads = plain.map((w) => simWorkload(w.name, w.replicas, { partition: policy }))
    await deployed(cluster, workloads)
    const ids = cluster.nodes.map((node) => node.id)
    const minority = cluster.random
      .shuffle(cluster.nodes.slice(1))
      .slice(0, Math.max(1, Math.floor(ids.length / 3)))
    const held = new Map(minority.map((node) => [node, new Set(slotsOf(node).split(' '))]))
    cluster.network.partition([
      ids.filter((id) => !minority.some((node) => node.id === id)),
      minority.map((node) => node.id),
    ])
    let cut = true
    if (policy.minority !== 'takeover')
      cluster.watch(() => {
        for (const node of minority)
          for (const slot of slotsOf(node).split(' '))
            if (slot !== '' && !held.get(node)?.has(slot))
              throw new Error(`minority node ${node.id} took ${slot} over at ${cluster.engine.now} ms`)
        return !cut
      })
    await cluster.run(cutMs, () => workloads)
    const problem = atEnd(held, minority)
    cut = false
    cluster.network.heal()
    return { from: cluster.engine.now, expected: workloads, check: () => problem }
  }
}

const slotCount = (node: SimNode) => node.reconciler.promises.length

/**
 * The partition policies (`partition:` in a spec), each in a scenario of its own; run at small
 * sizes by their own test, not in the table (a cut past the 60 s grace is long to simulate).
 */
const POLICY_SCENARIOS: Record<string, Body> = {
  // The default: the minority keeps its slots and takes over nothing, past the old 60 s grace.
  'partition-keep': partitionUnder({}, 70_000, (held, minority) => {
    for (const node of minority) {
      const now = slotsOf(node)
      const before = [...(held.get(node) ?? [])].join(' ')
      if (now !== before) return `minority node ${node.id} holds [${now}], not the [${before}] it held`
    }
    return undefined
  }),
  // `minority: takeover, after: 10s`: the minority takes over the others' slots after 10 s.
  'partition-takeover': partitionUnder({ minority: 'takeover', after: '10s' }, 15_000, (held, minority) => {
    const before = minority.reduce((sum, node) => sum + (held.get(node)?.size ?? 0), 0)
    const after = minority.reduce((sum, node) => sum + slotCount(node), 0)
    return after > before ? undefined : `the minority took nothing over (${before} slots, then ${after})`
  }),
  // `isolated: stop, stopAfter: 5s`: the minority stops its own copies after 5 s.
  'partition-stop': partitionUnder({ isolated: 'stop', stopAfter: '5s' }, 10_000, (_, minority) => {
    const still = minority.filter((node) => slotCount(node) > 0)
    return still.length === 0
      ? undefined
      : `minority nodes ${still.map((n) => n.id).join(', ')} still hold slots after stopAfter`
  }),
}

export const POLICY_SCENARIO_NAMES = Object.keys(POLICY_SCENARIOS)

/**
 * The last node lies for 10 s: it publishes `running` promises for every declared slot, with a
 * `since` made by `since` from when the slot's generation was declared, and a capacity that fits
 * them all, while it runs none of them; 2 s in, an honest node crashes. Then the first node bans
 * the liar: the invariants must hold again, counted over the other nodes. How much the lie
 * disturbed shows in the replica-seconds missing while it lied (`missingWhileLying`).
 */
function lying(since: (generationAt: Hlc) => Hlc): Body {
  return async (cluster, workloads) => {
    await deployed(cluster, workloads)
    const liar = cluster.nodes[cluster.nodes.length - 1] as SimNode
    const missingBefore = cluster.missingSeconds
    startLying(liar, (state) => {
      const times = liar.decls.generationTimes()
      return {
        ...state,
        capacity: { cpuMillis: Number.MAX_SAFE_INTEGER, memoryBytes: Number.MAX_SAFE_INTEGER },
        promises: liar.decls.live().flatMap((w) => {
          const at = times.get(w.name) ?? { wall: 0, logical: 0 }
          return Array.from({ length: w.replicas }, (_, slot) => ({
            workload: w.name,
            slot,
            generation: generationOf(w),
            phase: 'running' as const,
            since: since(at),
            ready: true,
            endpoints: [],
          }))
        }),
      }
    })
    // A node crashes meanwhile: its slots are placed again, where the lie lets them run.
    await cluster.run(2000, () => workloads)
    cluster.random.pick(cluster.nodes.slice(1, -1)).crash()
    await cluster.run(8000, () => workloads)
    const missingLying = cluster.missingSeconds - missingBefore
    cluster.nodes[0]?.ban(liar.id)
    cluster.banned.add(liar)
    return { from: cluster.engine.now, missingWhileLying: missingLying }
  }
}

/**
 * Makes `liar` a lying process: whatever its reconcile loop publishes, its own state (as its
 * agent gossips it and answers pulls and member syncs) is forged by `lie`, the first one at once.
 */
function startLying(liar: SimNode, lie: (state: NodeState) => NodeState): void {
  const self = liar.self
  const update = self.update.bind(self)
  self.update = (change) => {
    const { node, incarnation, seq, ...forged } = lie({ ...self.current, ...change })
    return update(forged)
  }
  if (self.update({})) liar.membership.publishState()
}

/**
 * Skewed clocks as rival claimants and writers. A third of the cluster, with the node whose
 * clock is ahead, is cut off for 10 s; the rest, with the node whose clock is behind, takes over
 * its slots (and past `targetPeers`, the cut-off side takes a few of theirs before it finds
 * itself partial). Meanwhile each side writes the same two names, a second apart. Claims and
 * writes are ordered by the writer's own clock (rule 2: the older claim stays; declarations: the
 * newest write wins), so after the heal, of the slots claimed on both sides:
 * - the node behind wins every rivalry it is in, though its claim came seconds after the other;
 * - the node ahead loses every slot it held that the other side claimed meanwhile;
 * - between right clocks, the claim made first stays;
 * - the node ahead's write wins over a later one, the node behind's loses to an earlier one.
 */
async function rivals(cluster: SimCluster, workloads: Workload[]): Promise<Outcome> {
  const [first, ahead, behind] = cluster.nodes as [SimNode, SimNode, SimNode]
  await deployed(cluster, workloads)
  const size = Math.max(2, Math.floor(cluster.nodes.length / 3))
  const cut = [ahead, ...cluster.random.shuffle(cluster.nodes.slice(3)).slice(0, size - 1)]
  const writer = cut[1] as SimNode
  const rest = cluster.nodes.filter((node) => !cut.includes(node))
  cluster.network.partition([rest.map((node) => node.id), cut.map((node) => node.id)])
  await cluster.run(4000, () => workloads)
  ahead.apply([simWorkload('contested-a', 2)])
  writer.apply([simWorkload('contested-b', 3)])
  await cluster.run(1000, () => workloads)
  first.apply([simWorkload('contested-a', 3)])
  behind.apply([simWorkload('contested-b', 2)])
  await cluster.run(5000, () => workloads)

  // The slots claimed on both sides, as the heal finds them.
  const claimants = new Map<string, SimNode[]>()
  for (const node of cluster.up)
    for (const p of node.state.promises)
      if (isClaimant(p)) {
        const key = `${p.workload}/${p.slot}`
        claimants.set(key, [...(claimants.get(key) ?? []), node])
      }
  const rivalries = [...claimants].filter(
    ([, nodes]) => nodes.some((n) => cut.includes(n)) && nodes.some((n) => !cut.includes(n)),
  )
  // When a claim was made in simulated time: its stamp, less its node's skew.
  const since = new Map<string, number>()
  for (const [slot, nodes] of rivalries)
    for (const node of nodes) {
      const p = node.state.promises.find((p) => isClaimant(p) && `${p.workload}/${p.slot}` === slot)
      since.set(`${node.id} ${slot}`, (p?.since.wall ?? 0) - node.init.skewMs)
    }
  const realTime = (node: SimNode, slot: string) => since.get(`${node.id} ${slot}`) ?? 0
  cluster.network.heal()
  const expected = [...workloads, simWorkload('contested-a', 2), simWorkload('contested-b', 3)]
  const check = (): string | undefined => {
    const holder = new Map<string, SimNode>()
    for (const node of cluster.up)
      for (const p of node.state.promises)
        if (p.phase === 'running') holder.set(`${p.workload}/${p.slot}`, node)
    const kinds = { behind: 0, ahead: 0, right: 0 }
    for (const [slot, nodes] of rivalries) {
      const kept = holder.get(slot)
      const original = nodes.reduce((a, b) => (realTime(b, slot) < realTime(a, slot) ? b : a))
      if (nodes.includes(behind)) {
        kinds.behind++
        if (kept !== behind) return `${slot}: the node a minute behind lost its rivalry to ${kept?.id}`
      } else if (original === ahead) {
        kinds.ahead++
        if (kept === ahead || kept === undefined) return `${slot}: the node a minute ahead kept its slot`
      } else {
        kinds.right++
        if (kept !== original)
          return `${slot}: ${kept?.id} took it from ${original.id}, whose claim came first`
      }
    }
    if (kinds.behind === 0 || kinds.ahead === 0)
      return `no rivalry of the node behind (${kinds.behind}) or of the node ahead (${kinds.ahead}): the scenario showed nothing`
    for (const node of cluster.up) {
      const a = node.decls.get('contested-a')?.version.origin
      const b = node.decls.get('contested-b')?.version.origin
      if (a !== ahead.id)
        return `${node.id} holds contested-a as written by ${a}, not by the node a minute ahead`
      if (b !== writer.id)
        return `${node.id} holds contested-b as written by ${b}, not before the node a minute behind`
    }
    return undefined
  }
  return { from: cluster.engine.now, expected, check }
}

/** More than fits: each node has room for 4 replicas of 1 cpu, and 5 per node are asked for. */
const CAPACITY = 'capacity-exhaustion'

export const SCENARIO_NAMES = [...Object.keys(SCENARIOS), CAPACITY]

export async function runScenario(name: string, options: ScenarioOptions): Promise<ScenarioResult> {
  const cluster = new SimCluster({
    nodes: options.nodes,
    seed: options.seed,
    ...(options.shards === undefined ? {} : { shards: options.shards }),
    ...(options.trace === true ? { trace: true } : {}),
  })
  if (name === 'clock-skew') {
    ;(cluster.nodes[1] as SimNode).init.skewMs = SKEW_MS
    ;(cluster.nodes[2] as SimNode).init.skewMs = -SKEW_MS
    // The daemon refuses timestamps more than --max-clock-offset-ms ahead (500 ms by default), and
    // a node that far from its peers refuses writes: clocks a minute off take a bound that admits
    // them, so that the scenario shows how the rules order claims and writes by skewed clocks.
    for (const node of cluster.nodes) node.init.maxClockOffsetMs = 2 * SKEW_MS
  }
  let workloads = workloadsFor(options.nodes)
  let outcome: Outcome
  if (name === CAPACITY) {
    // Four fit per node: INV-1 holds once every slot that runs nowhere has no room left on any
    // node that may hold it, and no node is over-committed.
    workloads = split('big', 5 * options.nodes, 1, { resources: { cpu: 1, memory: '64Mi' } })
    outcome = await (SCENARIOS['mass-apply'] as Body)(cluster, workloads)
  } else {
    const body = SCENARIOS[name] ?? POLICY_SCENARIOS[name]
    if (body === undefined)
      throw new Error(
        `no scenario named ${name} (known: ${[...SCENARIO_NAMES, ...POLICY_SCENARIO_NAMES].join(', ')})`,
      )
    outcome = await body(cluster, workloads)
  }
  const expected = outcome.expected ?? workloads
  const settledAt = await cluster.converge(() => expected, 120_000)
  const seconds = cluster.engine.now / 1000
  const traffic = cluster.nodes.map((node) => cluster.network.traffic.get(node.id))
  const rate = (pick: (t: NonNullable<(typeof traffic)[number]>) => number) => {
    const rates = traffic.map((t) => (t === undefined ? 0 : pick(t) / seconds))
    return { mean: rates.reduce((a, b) => a + b, 0) / rates.length, max: Math.max(...rates) }
  }
  const seenAt = outcome.loss?.at
  return {
    scenario: name,
    nodes: options.nodes,
    shards: cluster.shards,
    replicas: expected.reduce((sum, w) => sum + w.replicas, 0),
    convergeMs: settledAt === undefined ? undefined : Math.max(0, settledAt - outcome.from),
    ...(outcome.loss === undefined
      ? {}
      : { lossSeenMs: seenAt === undefined ? null : seenAt - outcome.from }),
    violation: cluster.violation(expected) ?? outcome.check?.(),
    msgsPerNodePerSec: rate((t) => t.msgsIn + t.msgsOut),
    bytesPerNodePerSec: rate((t) => t.bytesIn + t.bytesOut),
    duplicateSeconds: cluster.duplicateSeconds,
    missingSeconds: cluster.missingSeconds,
    ...(outcome.missingWhileLying === undefined
      ? {}
      : { missingWhileLyingSeconds: outcome.missingWhileLying }),
    ...(cluster.trace?.member === undefined ? {} : { trace: cluster.trace.render() }),
    planMsPerNodePerSec: cluster.planMs / options.nodes / seconds,
    simulatedMs: cluster.engine.now,
  }
}
