// Membership benchmark: real daemons on loopback. Prints, per cluster size, the time until every
// daemon sees every other alive, the time until a SIGKILLed daemon is seen dead everywhere, idle
// traffic per node (TCP bytes counted by the kernel), and RSS. Then cold starts (a rack whose power
// comes back): N daemons launched at one instant, the time until every daemon holds every other
// alive, and the suspects, accusations and deaths of those live members after that, over a watch
// of `--watch-seconds`. `--sizes ''` or `--cold-starts ''` skips a part.
//
//   npm run bench:membership -- [--sizes 3,10,30] [--idle-seconds 10] [--cold-starts 10,30,60] [--watch-seconds 15]
//     [--logs DIR] [--cpu-prof DIR] [--daemon-args='--flag value'] [--no-bundle] [--bin PATH]
import '../packages/node/dist/polyfill.js'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { cleanup, DaemonProcess, GARY_BIN, waitFor } from '../packages/node/dist/testing/index.js'
import { apiPorts, tcpBytesByPid } from './tcp-bytes.mjs'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,10,30' },
    'idle-seconds': { type: 'string', default: '10' },
    'cold-starts': { type: 'string', default: '10,30,60' },
    'watch-seconds': { type: 'string', default: '15' },
    // A directory to write each cold-started daemon's log to (JSON lines), to see where time went.
    logs: { type: 'string' },
    // A directory to write CPU profiles of three daemons of each run to (the seed, one, the middle): a
    // cold start's until the end of its watch, a size's until the end of its idle window.
    'cpu-prof': { type: 'string' },
    // More flags for every cold-started daemon (A/B runs of a setting), space-separated.
    'daemon-args': { type: 'string', default: '' },
    // Cold-started daemons load dist/ module by module, not the bundle (GARY_NO_BUNDLE=1): an A/B run.
    'no-bundle': { type: 'boolean', default: false },
    // Another checkout's packages/node/bin/gary.js to run the daemons from (A/B against main's build).
    bin: { type: 'string' },
  },
})
const list = (text) =>
  text
    .split(',')
    .filter((x) => x.trim() !== '')
    .map(Number)
const sizes = list(values.sizes)
const coldStarts = list(values['cold-starts'])
const idleSeconds = Number(values['idle-seconds'])
const watchMs = Number(values['watch-seconds']) * 1000
const LOOPBACK = ['--allow', '/ip4/127.0.0.0/ipcidr/8']
const COLD_ARGS = [...LOOPBACK, ...values['daemon-args'].split(' ').filter((arg) => arg !== '')]
/**
 * How cold-started daemon `i` of `n` runs: under `node --cpu-prof` if asked (the profile is
 * written when it exits; NODE_OPTIONS may not carry the flag), through a wrapper script.
 */
const profiled = (i, n, part = 'cold') => {
  const env = {
    ...(values['no-bundle'] ? { env: { GARY_NO_BUNDLE: '1' } } : {}),
    ...(values.bin === undefined ? {} : { bin: values.bin }),
  }
  if (values['cpu-prof'] === undefined || !(i === 0 || i === 1 || i === Math.floor(n / 2))) return env
  const dir = `${values['cpu-prof']}/${part}-${n}`
  mkdirSync(dir, { recursive: true })
  const bin = `${dir}/gary-profiled.sh`
  // Stopped at once by SIGTERM (before the daemon's own handler: a slow leave outlived the kill's grace).
  const exit = `${dir}/exit-on-term.mjs`
  writeFileSync(exit, "process.once('SIGTERM', () => process.exit(0))\n")
  writeFileSync(
    bin,
    `#!/bin/sh\nexec '${process.execPath}' --cpu-prof --cpu-prof-dir='${dir}' --import '${exit}' '${values.bin ?? GARY_BIN}' "$@"\n`,
  )
  chmodSync(bin, 0o755)
  return { ...env, bin }
}

const logTime = (daemon, msg, fields) =>
  daemon.logs.find((line) => line.msg === msg && Object.entries(fields).every(([k, v]) => line[k] === v))
    ?.time

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
/** CPU seconds (user + system) a process has used, from the kernel's counters. */
const cpuSeconds = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}
const cpuOf = (daemons) => daemons.reduce((sum, d) => sum + cpuSeconds(d.pid), 0)
/** Heartbeats and other direct-link frames a daemon sent and received so far (its /metrics). */
async function linkFrames(daemon) {
  try {
    const text = await (await fetch(`http://${daemon.api}/metrics`)).text()
    let frames = 0
    for (const match of text.matchAll(/^gary_link_frames_total\{direction="(?:in|out)"\} (\d+)$/gm))
      frames += Number(match[1])
    return frames
  } catch {
    return 0
  }
}
const framesOf = async (daemons) => (await Promise.all(daemons.map(linkFrames))).reduce((a, b) => a + b, 0)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/**
 * Starts a daemon per data dir, one after another, joined through the first. Each is in `started`
 * before it is up, so that a start that times out leaves none behind.
 */
async function startOneByOne(dirs, started) {
  // Many daemons on a loaded 2-core machine take a while: each spends ~0.45 s of CPU loading.
  const startTimeoutMs = 120_000
  const n = dirs.length
  for (const [i, dataDir] of dirs.entries()) {
    const daemon = new DaemonProcess({
      dataDir,
      ...(i === 0 ? {} : { join: [started[0].joinAddr] }),
      args: COLD_ARGS,
      startTimeoutMs,
      ...profiled(i, n, 'idle'),
    })
    started.push(daemon)
    await daemon.start()
  }
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
    // One by one on a loaded 2-core machine, 15 daemons took more than a minute.
    { timeoutMs: 120_000 },
  )
  const allAlive = Math.max(
    ...daemons.flatMap((d) =>
      daemons.filter((o) => o !== d).map((o) => logTime(d, 'member joined', { member: o.peerId })),
    ),
  )
  return allAlive - lastStart
}

const ALARMS = ['member suspect', 'member silent: accusing', 'member reported down', 'member dead']
const STATUS = {
  'member joined': 'alive',
  'member alive again': 'alive',
  'member back': 'alive',
  'member suspect': 'suspect',
  'member dead': 'dead',
  'member left': 'dead',
}

/** What each daemon's log says of every other's status, read incrementally. */
class Views {
  #read = new Map()
  #status = new Map()
  /** When the last pair turned alive, or undefined while one is not. */
  allAliveAt(daemons) {
    let last = 0
    for (const d of daemons) {
      const status = this.#status.get(d) ?? new Map()
      this.#status.set(d, status)
      const from = this.#read.get(d) ?? 0
      for (const line of d.logs.slice(from))
        if (STATUS[line.msg] !== undefined) status.set(line.member, { to: STATUS[line.msg], at: line.time })
      this.#read.set(d, d.logs.length)
      for (const o of daemons) {
        if (o === d) continue
        const seen = status.get(o.peerId)
        if (seen?.to !== 'alive') return undefined
        last = Math.max(last, seen.at)
      }
    }
    return last
  }
}

/** Alarms about `members` that the daemons logged at `from` or later (ms since the epoch), by kind. */
function alarms(daemons, members, from, to = Number.POSITIVE_INFINITY) {
  const counts = Object.fromEntries(ALARMS.map((kind) => [kind, 0]))
  for (const d of daemons)
    for (const line of d.logs)
      if (ALARMS.includes(line.msg) && members.has(line.member) && line.time >= from && line.time < to)
        counts[line.msg]++
  return counts
}

/**
 * N daemons launched at one instant (the seed's address is known beforehand, as a rack's is):
 * the time until each was up, until every daemon held every other alive, and the alarms about
 * those live members during the start and in the `watchMs` after.
 */
async function coldStart(n) {
  const dirs = []
  let daemons = []
  try {
    for (let i = 0; i < n; i++) dirs.push(await DaemonProcess.tempDir('gary-bench-'))
    const port = 20000 + Math.floor(Math.random() * 40000)
    const seed = new DaemonProcess({
      dataDir: dirs[0],
      args: [...COLD_ARGS, '--listen', `/ip4/127.0.0.1/tcp/${port}`],
      startTimeoutMs: 120_000,
      ...profiled(0, n),
    })
    const load = loadavg()[0]
    const launchedAt = Date.now()
    const seedUp = seed.start()
    // The others dial the seed's port, whatever its peer id: a join address without /p2p.
    const rest = dirs.slice(1).map(
      (dir, i) =>
        new DaemonProcess({
          dataDir: dir,
          join: [`/ip4/127.0.0.1/tcp/${port}`],
          args: COLD_ARGS,
          startTimeoutMs: 120_000,
          ...profiled(i + 1, n),
        }),
    )
    daemons = [seed, ...rest]
    const up = await Promise.allSettled([seedUp, ...rest.map((d) => d.start())])
    if (up.some((result) => result.status === 'rejected')) return { n, load, lastUp: undefined }
    const cpuUp = cpuOf(daemons)
    const lastUp = Math.max(...daemons.map((d) => logTime(d, 'started', {}))) - launchedAt
    const views = new Views()
    let convergedAt
    await waitFor(
      `${n} daemons started at once to hold each other alive`,
      () => {
        convergedAt = views.allAliveAt(daemons)
        return convergedAt !== undefined
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    ).catch(() => {})
    const cpuAlive = cpuOf(daemons)
    const members = new Set(daemons.map((d) => d.peerId))
    if (convergedAt === undefined)
      return {
        n,
        load,
        loadAfter: loadavg()[0],
        lastUp,
        cpuUp,
        cpuUntilGaveUp: cpuAlive,
        allAliveMs: undefined,
        during: alarms(daemons, members, launchedAt),
      }
    await new Promise((resolve) => setTimeout(resolve, watchMs))
    return {
      cpuUp,
      cpuAlive,
      cpuWatch: cpuOf(daemons) - cpuAlive,
      n,
      load,
      loadAfter: loadavg()[0],
      lastUp,
      allAliveMs: convergedAt - launchedAt,
      during: alarms(daemons, members, launchedAt, convergedAt + 1),
      after: alarms(daemons, members, convergedAt + 1),
    }
  } finally {
    if (values.logs !== undefined) {
      mkdirSync(values.logs, { recursive: true })
      for (const [i, d] of daemons.entries())
        writeFileSync(`${values.logs}/cold-${n}-${i}.jsonl`, d.logs.map((l) => JSON.stringify(l)).join('\n'))
    }
    await cleanup(daemons, dirs)
  }
}

async function run(n) {
  const dirs = []
  const daemons = []
  try {
    for (let i = 0; i < n; i++) dirs.push(await DaemonProcess.tempDir('gary-bench-'))
    await startOneByOne(dirs, daemons)
    const allAliveMs = await convergence(daemons)

    // Idle: traffic over a window after things settle.
    await new Promise((resolve) => setTimeout(resolve, 3000))
    // The frames are read from each daemon's /metrics outside the window: a scrape costs CPU an
    // idle daemon does not otherwise spend (its bytes are on the API's port, left out).
    const framesBefore = await framesOf(daemons)
    const before = tcpBytesByPid(apiPorts(daemons))
    const cpuBefore = cpuOf(daemons)
    const idleLoad = loadavg()[0]
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000))
    const cpuIdle = cpuOf(daemons) - cpuBefore
    const after = tcpBytesByPid(apiPorts(daemons))
    const framesIdle = (await framesOf(daemons)) - framesBefore
    // The profiled daemons write their profiles now, so that the profiles end with the idle window.
    const profiledOnes =
      values['cpu-prof'] === undefined ? [] : [0, 1, Math.floor(n / 2)].map((i) => daemons[i])
    for (const d of new Set(profiledOnes)) await d.kill('SIGTERM')
    const perNode = daemons.map((d) => {
      const a = after.get(d.pid) ?? { sent: 0, received: 0 }
      const b = before.get(d.pid) ?? { sent: 0, received: 0 }
      return { out: (a.sent - b.sent) / idleSeconds, in: (a.received - b.received) / idleSeconds }
    })
    const rss = daemons.filter((d) => !profiledOnes.includes(d)).map((d) => rssMiB(d.pid))

    // Kill one (not the seed) and time until every other daemon logs it dead.
    const victim = daemons[n - 1]
    const killedAt = Date.now()
    await victim.kill('SIGKILL')
    const others = daemons.filter((d) => d !== victim && !profiledOnes.includes(d))
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
      deadEverywhereMs: Math.max(...deadTimes),
      deadMedianMs: median(deadTimes),
      tcpOutBps: median(perNode.map((p) => p.out)),
      tcpInBps: median(perNode.map((p) => p.in)),
      rssMiB: median(rss),
      rssMaxMiB: Math.max(...rss),
      idleCpuPct: (100 * cpuIdle) / n / idleSeconds,
      // Under load the timers fire late and fewer beats go: CPU per frame is the steadier figure.
      framesPerSecond: framesIdle / n / idleSeconds,
      cpuPerFrameUs: (1e6 * cpuIdle) / framesIdle,
      idleLoad,
    }
  } finally {
    await cleanup(daemons, dirs)
  }
}

const rows = []
const colds = []
for (const n of coldStarts) {
  const row = await coldStart(n)
  colds.push(row)
  console.error(`done: cold start ${JSON.stringify(row)}`)
}
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
    'killed seen dead: median',
    'killed seen dead: everywhere',
    'idle TCP out B/s',
    'idle TCP in B/s',
    'RSS MiB median',
    'RSS MiB max',
    'idle % of a core',
    'link frames/s in+out',
    'CPU µs per frame',
    'load (1 min)',
  ],
  ...rows.map((r) => [
    String(r.n),
    `${fmt(r.allAliveMs)} ms`,
    `${fmt(r.deadMedianMs)} ms`,
    `${fmt(r.deadEverywhereMs)} ms`,
    fmt(r.tcpOutBps),
    fmt(r.tcpInBps),
    fmt(r.rssMiB, 1),
    fmt(r.rssMaxMiB, 1),
    fmt(r.idleCpuPct, 1),
    fmt(r.framesPerSecond, 1),
    fmt(r.cpuPerFrameUs),
    fmt(r.idleLoad, 1),
  ]),
]
const print = (rows) => {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)))
  for (const row of rows) console.log(row.map((cell, c) => cell.padStart(widths[c])).join('  '))
}
if (rows.length > 0) {
  console.log(
    '\nmembership: real daemons on loopback, default timings (heartbeat 1 s, suspect 2 s, dead 3 s)',
  )
  console.log(
    'all alive = from the last start until every daemon lists every other alive, each started after',
  )
  console.log(
    `the previous one is up. TCP bytes are the kernel's counters per daemon (median node) over ${idleSeconds} s of idle;\nidle % = the daemons' CPU seconds (user + system) over that window, per daemon, in % of one core;\nlink frames = heartbeats and other direct-link frames a daemon sent and received (its /metrics), per second;\nCPU µs per frame = the daemons' CPU over those frames (late timers under load send fewer beats: steadier than %).\n`,
  )
  print(table)
}
if (colds.length > 0) {
  const counts = (c) => (c === undefined ? '-' : ALARMS.map((kind) => c[kind]).join(' / '))
  console.log(
    '\ncold start: N daemons launched at one instant on this machine (fake runtime, joined through the',
  )
  console.log(
    'first). up = until the last logged `started`; all alive = until every daemon held every other alive;',
  )
  console.log(
    `alarms about those live members (suspect / accusing / reported down / dead), until all alive and in the ${watchMs / 1000} s after;\nCPU s per daemon = the daemons' CPU seconds (user + system) over N until all up and until all alive (or until\nthe wait gave up: "> x"); idle = their CPU over the watch, per daemon, in % of one core. Load distorts the\ntimes (the daemons share the cores with it), the CPU seconds far less.\n`,
  )
  print([
    [
      'N',
      'all up',
      'all alive',
      'alarms before',
      'alarms after',
      'CPU s per daemon: up / alive',
      'idle % of a core',
      'load (1 min) at launch / end',
    ],
    ...colds.map((r) => [
      String(r.n),
      r.lastUp === undefined ? 'not in 120 s' : `${fmt(r.lastUp)} ms`,
      r.allAliveMs === undefined ? 'not in 120 s' : `${fmt(r.allAliveMs)} ms`,
      counts(r.during),
      counts(r.after),
      r.cpuUp === undefined
        ? '-'
        : `${fmt(r.cpuUp / r.n, 2)} / ${r.cpuAlive === undefined ? `> ${fmt(r.cpuUntilGaveUp / r.n, 2)}` : fmt(r.cpuAlive / r.n, 2)}`,
      r.cpuWatch === undefined ? '-' : fmt((100 * r.cpuWatch) / r.n / (watchMs / 1000), 1),
      `${fmt(r.load, 1)} / ${r.loadAfter === undefined ? '-' : fmt(r.loadAfter, 1)}`,
    ]),
  ])
}
