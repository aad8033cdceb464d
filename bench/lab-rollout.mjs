// Rolling updates behind the routing mesh on the lab (scripts/lab.sh, as root): five machines, each
// with its own address, Docker engine and Gary daemon at its defaults (`--mesh` auto: the kernel
// on the lab; `--drain-ms` 1000). R replicas of a web server (busybox httpd, as in
// test/lab/mesh.test.ts) with a published port and an http health check (interval 1s), updated
// stop-first with maxUnavailable 1 (the defaults): each run applies a new env value to machine 1's
// API and is timed from the apply until every slot runs the new generation and is ready, and
// machine 1 lists R ready slots behind the published port (machine 1's `/v1/slots` and
// `/v1/endpoints`, polled every 100 ms; the time is that of the poll that first saw it sent).
// Meanwhile a request loop (scripts/request-loop.mjs: one request at a time, each on a new
// connection) runs on machine 5 through machine 1's published port: failed / total requests.
//
// Per run, from the holders' logs: how long each released slot took from `releasing` to
// `released` (the drain, then the container's stop and removal), and how many releases were
// stopped before every mesh confirmed it no longer sent them connections (builds that ask); and
// the slots' containers restarted (a failed health check: a loaded host answers late) and slots
// refused meanwhile, which refuse connections whatever the drain does. An update given up (a new
// slot refused, every slot back at the old generation) is reported as such and not timed.
//
// The daemons run GARY_LAB_BIN when set (scripts/lab.sh reads it): two builds compare on one host.
//
//   npm run bench:lab-rollout -- [--replicas 6] [--runs 4]

import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { waitFor } from '../packages/node/dist/testing/wait.js'
import { TEST_IMAGE } from '../packages/runtime/dist/test-image.js'
import { applyThroughApi, garyLab, median, sleep, stats } from './lab-common.mjs'

const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '6' },
    runs: { type: 'string', default: '4' },
  },
})
const replicas = Number(values.replicas)
const runs = Number(values.runs)
const MACHINES = 5
const WORKLOAD = 'roll'
const PUBLISHED = 80
const CLIENT = 5
const VIA = 1
const POLL_MS = 100
const LOOP = fileURLToPath(new URL('../scripts/request-loop.mjs', import.meta.url))
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')

/** The web server of test/lab/mesh.test.ts, whose page names its version. */
const spec = (version) => `name: ${WORKLOAD}
image: ${TEST_IMAGE}
command: [sh, -c, 'mkdir -p /www; echo "$VERSION slot $GARY_SLOT on $(hostname)" > /www/index.html; exec httpd -f -p 8080 -h /www']
env: {VERSION: v${version}}
resources: {cpu: 50m, memory: 16Mi}
replicas: ${replicas}
ports: [{container: 8080, published: ${PUBLISHED}}]
health: {http: {path: /, port: 8080}, interval: 1s, timeout: 1s, retries: 1}
`

console.log(
  `daemons: ${process.env.GARY_LAB_BIN ?? 'this worktree'}; ${MACHINES} machines, ${replicas} replicas, ${runs} runs; load average ${load()}`,
)
const lab = await garyLab(MACHINES)

/**
 * The generation every slot of the workload runs, once R slots run it, ready, and machine `VIA`
 * lists R ready slots behind the published port; undefined before.
 */
async function settledGeneration() {
  const rows = (await lab.api(VIA, '/v1/slots')).filter((r) => r.workload === WORKLOAD)
  const generations = new Set(rows.map((r) => r.generation))
  if (rows.length !== replicas || new Set(rows.map((r) => r.slot)).size !== replicas) return undefined
  if (generations.size !== 1 || rows.some((r) => r.phase !== 'running' || !r.ready)) return undefined
  const [row] = (await lab.api(VIA, '/v1/endpoints')).filter((r) => r.workload === WORKLOAD)
  return row?.slots.length === replicas ? rows[0].generation : undefined
}

/**
 * Since `marks`, from every machine's log: each release of the workload's slots (releasing ->
 * released, ms), releases not confirmed by every mesh, restarts and refusals.
 */
async function releases(marks) {
  const ms = []
  let unconfirmed = 0
  let restarts = 0
  let refused = 0
  for (const [k, i] of lab.machines.entries()) {
    const lines = (await lab.logs(i)).slice(marks[k]).filter((l) => l.workload === WORKLOAD)
    const began = new Map()
    for (const line of lines) {
      if (line.msg === 'releasing') began.set(line.slot, line.time)
      else if (line.msg === 'released' && began.has(line.slot)) {
        ms.push(line.time - began.get(line.slot))
        began.delete(line.slot)
      } else if (line.msg?.startsWith('released slot stopped before every mesh')) unconfirmed++
      else if (line.msg === 'container exited: restarting') restarts++
      else if (line.msg === 'refused slot') refused++
    }
  }
  return { ms, unconfirmed, restarts, refused }
}

const results = { ms: [], failed: [], total: [], release: [], restarts: [], abandoned: 0 }
try {
  await applyThroughApi(lab, VIA, spec(0))
  let generation
  await waitFor(
    `${replicas} slots of ${WORKLOAD} ready behind the mesh`,
    async () => {
      generation = await settledGeneration()
      return generation !== undefined
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  )

  for (let run = 1; run <= runs; run++) {
    const marks = await Promise.all(lab.machines.map(async (i) => (await lab.logs(i)).length))
    const stop = `rollout-stop-${run}`
    const loop = lab.exec(
      CLIENT,
      ['node', LOOP, `http://${lab.address(VIA)}:${PUBLISHED}/`, '300000', '2000', '20', `/root/${stop}`],
      360_000,
    )
    await sleep(1500)
    const loadBefore = load()
    const since = Date.now()
    await applyThroughApi(lab, VIA, spec(run))
    let ms
    let abandoned = false
    let lookedAt = since
    for (;;) {
      const polled = Date.now()
      const now = await settledGeneration()
      if (now !== undefined && now !== generation) {
        generation = now
        ms = polled - since
        break
      }
      // Every slot back at the old generation, ready, and a slot refused: the update was given up
      // (its new containers failed their health checks); the next run applies another version.
      if (now === generation && polled - lookedAt > 2000) {
        lookedAt = polled
        if ((await releases(marks)).refused > 0) {
          abandoned = true
          ms = polled - since
          break
        }
      }
      if (polled - since > 300_000) {
        const rows = (await lab.api(VIA, '/v1/slots')).filter((r) => r.workload === WORKLOAD)
        const seen = rows.map((r) => `${r.slot} ${r.phase}${r.ready ? ' ready' : ''} ${r.generation}`)
        const { restarts, refused } = await releases(marks)
        throw new Error(
          `run ${run}: the update did not end within 300 s (${restarts} restarts, ${refused} refused; slots: ${seen.join(', ')})`,
        )
      }
      await sleep(POLL_MS)
    }
    await sleep(1000)
    await lab.put(CLIENT, stop, '')
    const requests = JSON.parse(await loop).results
    const failed = requests.filter(([, ok]) => !ok)
    const released = await releases(marks)
    if (abandoned) results.abandoned++
    else results.ms.push(ms)
    results.failed.push(failed.length)
    results.total.push(requests.length)
    results.release.push(...released.ms)
    results.restarts.push(released.restarts)
    const errors = [...new Set(failed.map(([, , , text]) => text))].slice(0, 3)
    console.log(
      `run ${run}: ${abandoned ? `given up (a new slot refused), back at the old generation after ${ms} ms` : `updated in ${ms} ms`}; ${failed.length} of ${requests.length} requests failed${errors.length > 0 ? ` (${errors.join('; ')})` : ''}; releasing -> released ${stats(released.ms)} ms (${released.ms.length} releases, ${released.unconfirmed} unconfirmed); ${released.restarts} restarts, ${released.refused} refused; load average ${loadBefore} -> ${load()}`,
    )
  }

  console.log()
  console.log(
    `${MACHINES} machines, ${replicas} replicas, ${runs} runs, ${results.abandoned} given up (min / median / max):`,
  )
  console.log('| | min / median / max |')
  console.log('| --- | --- |')
  console.log(`| apply -> every slot new and ready (updates that ended) | ${stats(results.ms)} ms |`)
  console.log(`| releasing -> released, each slot | ${stats(results.release)} ms |`)
  console.log(`| failed requests | ${stats(results.failed)} (of ${stats(results.total)}) |`)
  console.log(`| containers restarted (failed health checks) | ${stats(results.restarts)} |`)
  console.log(`median update ${median(results.ms)} ms; load average at the end: ${load()}`)
} finally {
  await lab.down()
}
