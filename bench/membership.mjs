// Membership benchmark: real daemons on loopback. Prints, per cluster size, the time until every
// daemon sees every other alive, the time until a SIGKILLed daemon is seen dead everywhere, idle
// traffic per node (TCP bytes counted by the kernel), and RSS.
//
//   npm run bench:membership -- [--sizes 3,10,30] [--idle-seconds 10]
import '../packages/node/dist/polyfill.js'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/dist/testing/index.js'
import { tcpBytesByPid } from './tcp-bytes.mjs'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,10,30' },
    'idle-seconds': { type: 'string', default: '10' },
    // Past this size a cold start overloads the 2 cores here (see docs/design.md).
    'cold-start-up-to': { type: 'string', default: '10' },
  },
})
const sizes = values.sizes.split(',').map(Number)
const idleSeconds = Number(values['idle-seconds'])
const coldStartUpTo = Number(values['cold-start-up-to'])
const LOOPBACK = ['--allow', '/ip4/127.0.0.0/ipcidr/8']

const logTime = (daemon, msg, fields) =>
  daemon.logs.find((line) => line.msg === msg && Object.entries(fields).every(([k, v]) => line[k] === v))
    ?.time

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Starts a daemon per data dir, joined through the first: one after another, or all at once (a cold start). */
async function startCluster(dirs, parallel) {
  // A cold start of many daemons on 2 cores takes a while: each spends ~0.45 s of CPU loading.
  const startTimeoutMs = 120_000
  const seed = await new DaemonProcess({ dataDir: dirs[0], args: LOOPBACK, startTimeoutMs }).start()
  const rest = dirs
    .slice(1)
    .map((dir) => new DaemonProcess({ dataDir: dir, join: [seed.joinAddr], args: LOOPBACK, startTimeoutMs }))
  if (parallel) await Promise.all(rest.map((daemon) => daemon.start()))
  else for (const daemon of rest) await daemon.start()
  return [seed, ...rest]
}

/** Milliseconds from the last daemon's start until every daemon had logged every other as joined. */
async function convergence(daemons) {
  const lastStart = Math.max(...daemons.map((d) => logTime(d, 'started', {})))
  await waitFor(
    `${daemons.length} daemons to see each other`,
    () =>
      daemons.every((d) =>
        daemons.every((o) => o === d || logTime(d, 'member joined', { member: o.peerId })),
      ),
    { timeoutMs: 60_000 },
  )
  const allAlive = Math.max(
    ...daemons.flatMap((d) =>
      daemons.filter((o) => o !== d).map((o) => logTime(d, 'member joined', { member: o.peerId })),
    ),
  )
  return allAlive - lastStart
}

async function coldStart(n) {
  const dirs = []
  let daemons = []
  try {
    for (let i = 0; i < n; i++) dirs.push(await DaemonProcess.tempDir('gary-bench-'))
    daemons = await startCluster(dirs, true)
    return await convergence(daemons)
  } finally {
    await cleanup(daemons, dirs)
  }
}

async function run(n) {
  const dirs = []
  const daemons = []
  try {
    for (let i = 0; i < n; i++) dirs.push(await DaemonProcess.tempDir('gary-bench-'))
    daemons.push(...(await startCluster(dirs, false)))
    const allAliveMs = await convergence(daemons)

    // Idle: traffic over a window after things settle.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const before = tcpBytesByPid()
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000))
    const after = tcpBytesByPid()
    const perNode = daemons.map((d) => {
      const a = after.get(d.pid) ?? { sent: 0, received: 0 }
      const b = before.get(d.pid) ?? { sent: 0, received: 0 }
      return { out: (a.sent - b.sent) / idleSeconds, in: (a.received - b.received) / idleSeconds }
    })
    const rss = daemons.map((d) => rssMiB(d.pid))

    // Kill one (not the seed) and time until every other daemon logs it dead.
    const victim = daemons[n - 1]
    const killedAt = Date.now()
    await victim.kill('SIGKILL')
    const others = daemons.filter((d) => d !== victim)
    await waitFor(
      'the killed daemon to be seen dead',
      () => others.every((d) => logTime(d, 'member dead', { member: victim.peerId })),
      {
        timeoutMs: 30_000,
      },
    )
    const deadTimes = others.map((d) => logTime(d, 'member dead', { member: victim.peerId }) - killedAt)

    return {
      n,
      allAliveMs,
      coldStartMs: n <= coldStartUpTo ? await coldStart(n) : undefined,
      deadEverywhereMs: Math.max(...deadTimes),
      deadMedianMs: median(deadTimes),
      tcpOutBps: median(perNode.map((p) => p.out)),
      tcpInBps: median(perNode.map((p) => p.in)),
      rssMiB: median(rss),
      rssMaxMiB: Math.max(...rss),
    }
  } finally {
    await cleanup(daemons, dirs)
  }
}

const rows = []
for (const n of sizes) {
  const row = await run(n)
  rows.push(row)
  console.error(`done: N=${n}`)
}
const fmt = (x, digits = 0) => x.toFixed(digits)
const table = [
  [
    'N',
    'all alive: one by one',
    'all alive: cold start',
    'killed seen dead: median',
    'killed seen dead: everywhere',
    'idle TCP out B/s',
    'idle TCP in B/s',
    'RSS MiB median',
    'RSS MiB max',
  ],
  ...rows.map((r) => [
    String(r.n),
    `${fmt(r.allAliveMs)} ms`,
    r.coldStartMs === undefined ? '-' : `${fmt(r.coldStartMs)} ms`,
    `${fmt(r.deadMedianMs)} ms`,
    `${fmt(r.deadEverywhereMs)} ms`,
    fmt(r.tcpOutBps),
    fmt(r.tcpInBps),
    fmt(r.rssMiB, 1),
    fmt(r.rssMaxMiB, 1),
  ]),
]
const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)))
console.log('\nmembership: real daemons on loopback, default timings (heartbeat 1 s, suspect 2 s, dead 3 s)')
console.log(
  'all alive = from the last start until every daemon lists every other alive; one by one = each started',
)
console.log(
  'after the previous one is up; cold start = all at once on this 2-core machine. TCP bytes are the',
)
console.log(`kernel's counters per daemon (median node) over ${idleSeconds} s of idle.\n`)
for (const row of table) console.log(row.map((cell, c) => cell.padStart(widths[c])).join('  '))
