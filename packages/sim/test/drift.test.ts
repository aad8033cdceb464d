import { type AgentEvent, AgentNet, recording, recordingLogger } from '@gary/node/testing'
import { expect, test } from 'vitest'
import { SimCluster, simWorkload } from '../src/cluster.js'
import { nodeSeed, Random } from '../src/random.js'

// One scenario run twice: through the daemon's agents over an in-memory network written to the
// daemon's port semantics (`AgentNet`), and through the simulator. Each node's agents must do the
// same things at the same virtual times on both: send the same messages, dial and hang up the same
// peers, and log the same decisions (joins, suspects, deaths, reports, refutations, merges).

const SEED = 5
const NODES = 6
const ids = Array.from({ length: NODES }, (_, i) => `n${String(i).padStart(5, '0')}`)
const index = (id: string) => Number(id.slice(1))

/** A fixed latency per link, a fraction of a ms apart from every other: no two messages tie. */
const latency = (from: string, to: string) =>
  1 + ((index(from) * 7 + index(to) * 13) % 17) / 17 + index(to) / 1000

/** Each node's own source, as the simulator seeds it, kept across its restarts. */
const randoms = new Map<string, Random>()
const randomOf = (id: string) => {
  let random = randoms.get(id)
  if (random === undefined) {
    random = new Random(nodeSeed(SEED, index(id)))
    randoms.set(id, random)
  }
  return () => (random as Random).next()
}

const workload = simWorkload('drift', 0)

/** The scenario: [virtual ms, step] on a transport that both runs implement. */
interface Transport {
  start(id: string, join: string[]): void
  crash(id: string): void
  /** The node's machine goes silently (powered off): nothing sent, dials and requests time out. */
  vanish(id: string): void
  apply(id: string): void
  partition(groups: string[][]): void
  heal(): void
  setLink(a: string, b: string, up: boolean): void
}

const SCRIPT: [number, (t: Transport) => void][] = [
  // Joins: one seed, the others through it or through a node already up.
  [0, (t) => t.start('n00000', [])],
  [150, (t) => t.start('n00001', ['n00000'])],
  [420, (t) => t.start('n00002', ['n00000'])],
  [700, (t) => t.start('n00003', ['n00001'])],
  [910, (t) => t.start('n00004', ['n00002'])],
  [1330, (t) => t.start('n00005', ['n00000'])],
  // A lost message: the apply's gossip never reaches n00003; anti-entropy brings it.
  [4000, (t) => t.setLink('n00000', 'n00003', false)],
  [4000.5, (t) => t.apply('n00000')],
  [4010, (t) => t.setLink('n00000', 'n00003', true)],
  // A crash: its peers see the reset, their redial is refused.
  [8000, (t) => t.crash('n00005')],
  // A partition, healed.
  [
    14_000,
    (t) =>
      t.partition([
        ['n00000', 'n00001', 'n00002'],
        ['n00003', 'n00004'],
      ]),
  ],
  [22_000, (t) => t.heal()],
  // The crashed node comes back.
  [30_000, (t) => t.start('n00005', ['n00004'])],
  // A machine lost silently: its peers hear nothing, judge it by heartbeat age, and their redials
  // time out.
  [34_000, (t) => t.vanish('n00002')],
]
const END_MS = 42_000

function throughAgentNet(shards: number): AgentEvent[] {
  const events: AgentEvent[] = []
  randoms.clear()
  const net = new AgentNet({ latency, random: randomOf, shards, record: (event) => events.push(event) })
  for (const id of ids) net.add(id)
  const transport: Transport = {
    start: (id, join) => net.start(id, join),
    crash: (id) => net.crash(id),
    vanish: (id) => net.crash(id, { silent: true }),
    apply: (id) => net.apply(id, [workload]),
    partition: (groups) => net.partition(groups),
    heal: () => net.heal(),
    setLink: (a, b, up) => net.setLink(a, b, up),
  }
  for (const [at, step] of SCRIPT) net.clock.at(at, () => step(transport))
  net.clock.runUntil(END_MS)
  return events
}

async function throughSimulator(shards: number): Promise<AgentEvent[]> {
  const events: AgentEvent[] = []
  const cluster: SimCluster = new SimCluster({
    nodes: NODES,
    seed: SEED,
    shards,
    network: { latency, loss: 0, duplicate: 0 },
    loggerFor: (id) => recordingLogger((what) => events.push({ at: cluster.engine.now, node: id, what })),
    tapPort: (id, port) => recording(port, (what) => events.push({ at: cluster.engine.now, node: id, what })),
  })
  const byId = (id: string) => cluster.nodes[index(id)]!
  const transport: Transport = {
    start: (id, join) => byId(id).start(join),
    crash: (id) => byId(id).crash(),
    vanish: (id) => byId(id).crash({ silent: true }),
    apply: (id) => byId(id).apply([workload]),
    partition: (groups) => cluster.network.partition(groups),
    heal: () => cluster.network.heal(),
    setLink: (a, b, up) => cluster.network.setLink(a, b, up),
  }
  for (const [at, step] of SCRIPT) cluster.engine.at(at, () => step(transport), true)
  await cluster.engine.run(END_MS)
  return events
}

const perNode = (events: AgentEvent[], id: string) =>
  events.filter((event) => event.node === id).map((event) => `${event.at.toFixed(3)} ${event.what}`)

// With four shards membership is partial: states and notes go to shard topics, scopes differ.
test.each([1, 4])(
  'the daemon agents over an in-memory network and the simulator decide the same, step by step (%i shards)',
  async (shards) => {
    const agentNet = throughAgentNet(shards)
    const simulator = await throughSimulator(shards)
    // The scenario does what it says: joins, the lost message healed, the crash seen, the partition.
    const did = (node: RegExp, what: string, member?: RegExp) =>
      agentNet.some(
        (event) =>
          node.test(event.node) &&
          event.what.startsWith(what) &&
          (member === undefined || member.test(/member="([^"]+)"/.exec(event.what)?.[1] ?? '')),
      )
    expect(did(/n00003/, 'pull declarations')).toBe(true)
    expect(did(/n0000[0-4]/, 'member dead', /n00005/)).toBe(true)
    expect(did(/n0000[34]/, 'member dead', /n0000[012]/)).toBe(true)
    expect(did(/n0000[0-4]/, 'member restarted', /n00005/)).toBe(true)
    expect(did(/n0000[01345]/, 'member dead', /n00002/)).toBe(true)
    for (const id of ids) expect(perNode(simulator, id), `what ${id} did`).toEqual(perNode(agentNet, id))
  },
)
