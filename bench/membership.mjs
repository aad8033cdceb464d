// Membership benchmark: real daemons on loopback. Prints, per cluster size, the time until every
// daemon sees every other alive, the time until a SIGKILLed daemon is seen dead everywhere, idle
// traffic per node (TCP bytes counted by the kernel, and Gary's own message bytes), and RSS.
//
//   npm run bench:membership -- [--sizes 3,10,30] [--idle-seconds 10]
import '../packages/node/dist/polyfill.js'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/dist/testing/index.js'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3,10,30' },
    'idle-seconds': { type: 'string', default: '10' },
  },
})
const sizes = values.sizes.split(',').map(Number)
const idleSeconds = Number(values['idle-seconds'])
const LOOPBACK = ['--allow', '/ip4/127.0.0.0/ipcidr/8']

const logTime = (daemon, msg, fields) =>
  daemon.logs.find((line) => line.msg === msg && Object.entries(fields).every(([k, v]) => line[k] === v))
    ?.time

/** Kernel TCP byte counters summed over each process's established sockets. */
function tcpBytesByPid() {
  const out = execFileSync('ss', ['-tinpH', 'state', 'established'], { encoding: 'utf8' })
  const totals = new Map()
  let pid
  for (const line of out.split('\n')) {
    const owner = /pid=(\d+)/.exec(line)
    if (owner) pid = Number(owner[1])
    const sent = /bytes_sent:(\d+)/.exec(line)
    const received = /bytes_received:(\d+)/.exec(line)
    if (pid !== undefined && (sent || received)) {
      const total = totals.get(pid) ?? { sent: 0, received: 0 }
      total.sent += Number(sent?.[1] ?? 0)
      total.received += Number(received?.[1] ?? 0)
      totals.set(pid, total)
    }
  }
  return totals
}

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function run(n) {
  const dirs = []
  const daemons = []
  try {
    for (let i = 0; i < n; i++) dirs.push(await DaemonProcess.tempDir('gary-bench-'))
    const seed = await new DaemonProcess({ dataDir: dirs[0], args: LOOPBACK }).start()
    daemons.push(seed)
    const rest = dirs
      .slice(1)
      .map((dir) => new DaemonProcess({ dataDir: dir, join: [seed.joinAddr], args: LOOPBACK }))
    daemons.push(...rest)
    await Promise.all(rest.map((daemon) => daemon.start()))
    const lastStart = Math.max(...daemons.map((d) => logTime(d, 'started', {})))

    // Converged: every daemon logged every other as joined.
    await waitFor(
      `${n} daemons to see each other`,
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
    const summaries = daemons.map((d) => d.logs.filter((l) => l.msg === 'gossip summary').at(-1))
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
      allAliveMs: allAlive - lastStart,
      deadEverywhereMs: Math.max(...deadTimes),
      deadMedianMs: median(deadTimes),
      tcpOutBps: median(perNode.map((p) => p.out)),
      tcpInBps: median(perNode.map((p) => p.in)),
      tcpMaxBps: Math.max(...perNode.map((p) => p.in + p.out)),
      appBps: median(summaries.filter(Boolean).map((s) => s.bytesInPerSec + s.bytesOutPerSec)),
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
console.log(
  '\nmembership (real daemons on loopback, default timings: heartbeat 1 s, suspect 2 s, dead 3 s)\n',
)
console.log(
  '   N  all alive after last start  killed seen dead (median / everywhere)  idle TCP B/s per node (out / in / max in+out)  Gary msg B/s  RSS MiB (median / max)',
)
for (const r of rows) {
  console.log(
    `${String(r.n).padStart(4)}  ${`${fmt(r.allAliveMs)} ms`.padStart(26)}  ${`${fmt(r.deadMedianMs)} / ${fmt(r.deadEverywhereMs)} ms`.padStart(38)}  ${`${fmt(r.tcpOutBps)} / ${fmt(r.tcpInBps)} / ${fmt(r.tcpMaxBps)}`.padStart(45)}  ${fmt(r.appBps).padStart(12)}  ${`${fmt(r.rssMiB, 1)} / ${fmt(r.rssMaxMiB, 1)}`.padStart(22)}`,
  )
}
