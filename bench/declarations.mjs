// Declarations benchmark: real daemons on loopback. Prints, per cluster size, the time from an
// apply on one node until every node holds the declaration, and the TCP bytes each node sent
// because of it (above its idle traffic, measured just before over as long).
//
// Two applies are timed and counted apart, since an apply now does more than spread a
// declaration: one of `replicas: 0` (the declaration alone: what this bench measured before the
// daemon ran the placement rules), and one of `replicas: 3` (the declaration, then three nodes
// claiming and starting a slot each on the fake runtime and gossiping their NodeStates). Each
// node's libp2p counters (`GET /metrics`) split the bytes by protocol.
//
// Every node first makes one apply that is not measured: a node's first apply, and its first
// declaration received, run code V8 has not compiled yet (the YAML parser, the schemas), which
// cost the origin 10-12 ms of CPU instead of 3 and made whichever kind came first look slower.
// The two kinds then alternate which goes first.
//
// --trace prints, for each apply (stderr), when each node logged it held the declaration, after
// the origin logged it durable, and each daemon's main thread's CPU and run-queue time (Linux
// schedstat) from the apply until every node held it: CPU spent, or waiting for a core.
//
// --bin runs another build's `gary` (another checkout's packages/node/bin/gary.js), for an A/B.
//
//   npm run bench:declarations -- [--sizes 3,10,20] [--runs 5] [--trace] [--bin PATH]
import '../packages/node/dist/polyfill.js'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/dist/testing/index.js'
import { apiPorts, tcpBytesByPid } from './tcp-bytes.mjs'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,10,20' },
    runs: { type: 'string', default: '5' },
    trace: { type: 'boolean', default: false },
    bin: { type: 'string' },
  },
})
const sizes = values.sizes.split(',').map(Number)
const runs = Number(values.runs)
const LOOPBACK = ['--allow', '/ip4/127.0.0.0/ipcidr/8']
const BIN = values.bin === undefined ? {} : { bin: values.bin }
const SETTLE_MS = 2000

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * fetch, once more when the connection broke before an answer: at load 50-100 a daemon closed
 * an idle kept-alive connection as the bench reused it, and runs at N = 20 ended there.
 */
async function request(url, init) {
  try {
    return await fetch(url, init)
  } catch (err) {
    if (!['UND_ERR_SOCKET', 'ECONNRESET'].includes(err.cause?.code)) throw err
    return fetch(url, init)
  }
}

/** libp2p's bytes by protocol ("<protocol> sent"), from a daemon's metrics. */
async function protocolBytes(daemon) {
  const text = await (await request(`http://${daemon.api}/metrics`)).text()
  const bytes = new Map()
  for (const match of text.matchAll(/^libp2p_data_transfer_bytes_total\{protocol="([^"]+) sent"\} (\d+)$/gm))
    bytes.set(match[1], Number(match[2]))
  return bytes
}

/** Per daemon: TCP bytes sent over a window (an action, then `ms` more), and by protocol; the window's length. */
async function sentDuring(daemons, ms, action = async () => {}) {
  const before = tcpBytesByPid(apiPorts(daemons))
  const protocolsBefore = await Promise.all(daemons.map(protocolBytes))
  const startedAt = Date.now()
  await action()
  await sleep(ms)
  const after = tcpBytesByPid(apiPorts(daemons))
  const protocolsAfter = await Promise.all(daemons.map(protocolBytes))
  const bytes = daemons.map((d) => (after.get(d.pid)?.sent ?? 0) - (before.get(d.pid)?.sent ?? 0))
  const byProtocol = daemons.map((_, i) => {
    const diff = new Map()
    for (const [protocol, total] of protocolsAfter[i])
      diff.set(protocol, total - (protocolsBefore[i].get(protocol) ?? 0))
    return diff
  })
  return { bytes, byProtocol, ms: Date.now() - startedAt }
}

/** Gossipsub's streams (every topic: declarations, node states, member notes). */
const isGossip = (protocol) => protocol.startsWith('/meshsub/')

/** A daemon's main thread so far: ms on a CPU, ms runnable but waiting for one (Linux schedstat). */
function schedOf(daemon) {
  const [cpu, waited] = readFileSync(`/proc/${daemon.pid}/schedstat`, 'utf8').split(' ').map(Number)
  return { cpu: cpu / 1e6, waited: waited / 1e6 }
}

const received = (d, name) => d.logs.find((l) => l.msg === 'declaration received' && l.workload === name)

/** Applies a new workload on `origin`; resolves once every node holds it, with the time of the API call. */
async function apply(daemons, origin, name, replicas) {
  const appliedAt = Date.now()
  const response = await request(`http://${origin.api}/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: `name: ${name}\nimage: gary/busybox:test\nreplicas: ${replicas}\n` }),
  })
  if (!response.ok) throw new Error(`apply failed: ${await response.text()}`)
  await waitFor(`${name} everywhere`, () => daemons.every((d) => d === origin || received(d, name)), {
    intervalMs: values.trace ? 5 : 50,
    timeoutMs: 60_000,
  })
  return appliedAt
}

/** Applies `replicas` of a new workload on `origin`, and measures until every node holds it. */
async function measureApply(daemons, origin, name, replicas) {
  const idle = await sentDuring(daemons, SETTLE_MS)
  let appliedAt
  let sched
  const busy = await sentDuring(daemons, SETTLE_MS, async () => {
    const before = values.trace ? daemons.map(schedOf) : []
    appliedAt = await apply(daemons, origin, name, replicas)
    if (values.trace) sched = daemons.map((d, i) => ({ before: before[i], after: schedOf(d) }))
  })
  const heldAt = daemons.filter((d) => d !== origin).map((d) => received(d, name).time)
  // Logged once the write is durable and gossiped: what follows is the spread alone.
  const accepted = origin.logs.find(
    (l) => l.msg === 'apply accepted' && l.workloads?.some((w) => w.startsWith(`${name} `)),
  ).time
  if (values.trace) trace(daemons, origin, name, appliedAt, accepted, sched)
  const idleShare = (bytes) => (bytes * busy.ms) / idle.ms
  const gossipOf = (byProtocol) =>
    [...byProtocol].filter(([p]) => isGossip(p)).reduce((sum, [, bytes]) => sum + bytes, 0)
  return {
    ms: Math.max(...heldAt) - appliedAt,
    spreadMs: Math.max(...heldAt) - accepted,
    bytes: median(busy.bytes.map((bytes, i) => Math.round(bytes - idleShare(idle.bytes[i])))),
    gossipBytes: median(
      busy.byProtocol.map((p, i) => Math.round(gossipOf(p) - idleShare(gossipOf(idle.byProtocol[i])))),
    ),
  }
}

/** When each node held the declaration, and what its main thread did meanwhile (stderr). */
function trace(daemons, origin, name, appliedAt, accepted, sched) {
  const at = (d) => (d === origin ? accepted : received(d, name).time)
  const order = [...daemons.keys()].sort((a, b) => at(daemons[a]) - at(daemons[b]))
  const heldBy = Math.max(...daemons.map(at))
  console.error(
    `${name}: origin n${daemons.indexOf(origin)} durable ${accepted - appliedAt} ms after the API call, held everywhere ${heldBy - accepted} ms after that`,
  )
  console.error(
    '  node  held at ms (after durable)  CPU ms  run-queue ms (from the API call until all held it)',
  )
  for (const i of order) {
    const { before, after } = sched[i]
    console.error(
      `  ${`n${i}`.padStart(4)}  ${String(at(daemons[i]) - accepted).padStart(27)}  ${(after.cpu - before.cpu).toFixed(1).padStart(6)}  ${(after.waited - before.waited).toFixed(1).padStart(12)}${daemons[i] === origin ? '  (origin)' : ''}`,
    )
  }
}

/** One unmeasured apply on each node, so that no measured one pays for code run the first time. */
async function warmUp(daemons) {
  for (const [i, origin] of daemons.entries()) await apply(daemons, origin, `warm-up-${i}`, 0)
}

async function run(n) {
  const dirs = []
  const daemons = []
  // Start-up on a loaded 2-core machine can take a while.
  const startTimeoutMs = 120_000
  try {
    for (let i = 0; i < n; i++) dirs.push(await DaemonProcess.tempDir('gary-bench-'))
    const seed = await new DaemonProcess({ dataDir: dirs[0], args: LOOPBACK, startTimeoutMs, ...BIN }).start()
    daemons.push(seed)
    for (const dir of dirs.slice(1)) {
      daemons.push(
        await new DaemonProcess({
          dataDir: dir,
          join: [seed.joinAddr],
          args: LOOPBACK,
          startTimeoutMs,
          ...BIN,
        }).start(),
      )
    }
    await waitFor(
      'the cluster to form',
      () => daemons.every((d) => d.logs.filter((l) => l.msg === 'member joined').length >= n - 1),
      { timeoutMs: 120_000 },
    )
    await warmUp(daemons)
    await sleep(SETTLE_MS)
    const alone = []
    const placed = []
    for (let r = 0; r < runs; r++) {
      const origin = daemons[r % n]
      const kinds = [
        async () => alone.push(await measureApply(daemons, origin, `bench-${r}`, 0)),
        async () => placed.push(await measureApply(daemons, origin, `bench-placed-${r}`, 3)),
      ]
      if (r % 2 === 1) kinds.reverse()
      for (const kind of kinds) await kind()
    }
    const summary = (xs) => ({
      medianMs: median(xs.map((x) => x.ms)),
      maxMs: Math.max(...xs.map((x) => x.ms)),
      spreadMs: median(xs.map((x) => x.spreadMs)),
      bytes: median(xs.map((x) => x.bytes)),
      gossipBytes: median(xs.map((x) => x.gossipBytes)),
    })
    return { n, alone: summary(alone), placed: summary(placed) }
  } finally {
    await cleanup(daemons, dirs)
  }
}

console.log(
  `\ndeclarations: apply on one node until all N hold it (real daemons on loopback, ${runs} applies of each kind)`,
)
console.log(
  'ms: from the API call (apply) / from the origin logging it durable and gossiped (spread), medians; max of apply',
)
console.log(
  'bytes: TCP bytes a node sent from the apply until 2 s after, minus its idle rate over as long (median node);',
)
console.log(
  'gossip: the part of them on gossipsub streams (libp2p counters), idle rate subtracted the same way',
)
console.log(
  'replicas 0: the declaration alone; replicas 3: also three nodes claiming and starting a slot and gossiping their states\n',
)
const pad = (value, width) => String(value).padStart(width)
console.log('   N  replicas  apply ms  max ms  spread ms  bytes per node  of which gossip')
// Each size's rows as soon as it is done: a later size that fails loses nothing before it.
for (const n of sizes) {
  const r = await run(n)
  for (const [replicas, s] of [
    [0, r.alone],
    [3, r.placed],
  ]) {
    console.log(
      `${pad(r.n, 4)}  ${pad(replicas, 8)}  ${pad(s.medianMs, 8)}  ${pad(s.maxMs, 6)}  ${pad(s.spreadMs, 9)}  ${pad(s.bytes, 14)}  ${pad(s.gossipBytes, 15)}`,
    )
  }
}
