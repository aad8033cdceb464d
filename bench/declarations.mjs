// Declarations benchmark: real daemons on loopback. Prints, per cluster size, the time from an
// apply on one node until every node holds the declaration, and the TCP bytes each node sent
// because of it (above its idle traffic).
//
//   npm run bench:declarations -- [--sizes 3,10,20] [--runs 5]
import '../packages/node/dist/polyfill.js'
import { parseArgs } from 'node:util'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/dist/testing/index.js'
import { tcpBytesByPid } from './tcp-bytes.mjs'

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '3,10,20' }, runs: { type: 'string', default: '5' } },
})
const sizes = values.sizes.split(',').map(Number)
const runs = Number(values.runs)
const LOOPBACK = ['--allow', '/ip4/127.0.0.0/ipcidr/8']
const SETTLE_MS = 2000

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Bytes each daemon sent over a window (an action, then `ms` more), and the window's length. */
async function sentDuring(daemons, ms, action = async () => {}) {
  const before = tcpBytesByPid()
  const startedAt = Date.now()
  await action()
  await sleep(ms)
  const after = tcpBytesByPid()
  const bytes = daemons.map((d) => (after.get(d.pid)?.sent ?? 0) - (before.get(d.pid)?.sent ?? 0))
  return { bytes, ms: Date.now() - startedAt }
}

async function run(n) {
  const dirs = []
  const daemons = []
  try {
    for (let i = 0; i < n; i++) dirs.push(await DaemonProcess.tempDir('gary-bench-'))
    const seed = await new DaemonProcess({ dataDir: dirs[0], args: LOOPBACK }).start()
    daemons.push(seed)
    for (const dir of dirs.slice(1)) {
      daemons.push(await new DaemonProcess({ dataDir: dir, join: [seed.joinAddr], args: LOOPBACK }).start())
    }
    await waitFor(
      'the cluster to form',
      () => daemons.every((d) => d.logs.filter((l) => l.msg === 'member joined').length >= n - 1),
      { timeoutMs: 60_000 },
    )
    await sleep(SETTLE_MS)
    const times = []
    const extraBytes = []
    for (let r = 0; r < runs; r++) {
      const name = `bench-${r}`
      const origin = daemons[r % n]
      const idle = await sentDuring(daemons, SETTLE_MS)
      let appliedAt
      const busy = await sentDuring(daemons, SETTLE_MS, async () => {
        appliedAt = Date.now()
        const response = await fetch(`http://${origin.api}/v1/apply`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: `name: ${name}\nimage: gary/busybox:test\nreplicas: 3\n` }),
        })
        if (!response.ok) throw new Error(`apply failed: ${await response.text()}`)
        await waitFor(`${name} everywhere`, () =>
          daemons.every(
            (d) =>
              d === origin || d.logs.some((l) => l.msg === 'declaration received' && l.workload === name),
          ),
        )
      })
      const heldAt = daemons
        .filter((d) => d !== origin)
        .map((d) => d.logs.find((l) => l.msg === 'declaration received' && l.workload === name).time)
      times.push(Math.max(...heldAt) - appliedAt)
      extraBytes.push(
        median(busy.bytes.map((bytes, i) => Math.round(bytes - (idle.bytes[i] * busy.ms) / idle.ms))),
      )
    }
    return { n, medianMs: median(times), maxMs: Math.max(...times), bytesPerNode: median(extraBytes) }
  } finally {
    await cleanup(daemons, dirs)
  }
}

const rows = []
for (const n of sizes) {
  rows.push(await run(n))
  console.error(`done: N=${n}`)
}
console.log(
  `\ndeclarations: apply on one node until all N hold it (real daemons on loopback, ${runs} applies each)`,
)
console.log(
  'bytes = TCP bytes a node sent from the apply until 2 s after, minus its idle rate over as long (median node)\n',
)
console.log('   N  median ms  max ms  bytes sent per node')
for (const r of rows) {
  console.log(
    `${String(r.n).padStart(4)}  ${String(r.medianMs).padStart(9)}  ${String(r.maxMs).padStart(6)}  ${String(r.bytesPerNode).padStart(19)}`,
  )
}
