// Deploy on the lab (scripts/lab.sh, as root): `gary apply` of R replicas through machine 1's API
// until R run across the machines, against R parallel `docker run`s of the same containers (same
// image, command and limits) spread over the same machines' engines. Both are timed the same way:
// from the call until a poll of every engine (every 20 ms) sees R running. Runs interleave, and
// alternate which goes first.
//
//   npm run bench:lab-deploy -- [--machines 5] [--replicas 20,50] [--runs 5]
import { parseArgs } from 'node:util'
import { LABELS } from '../packages/node/dist/reconcile/container-labels.js'
import { TEST_IMAGE } from '../packages/runtime/dist/test-image.js'
import { applyThroughApi, census, garyLab, median, sleep, stats } from './lab-common.mjs'

const { values } = parseArgs({
  options: {
    machines: { type: 'string', default: '5' },
    replicas: { type: 'string', default: '20,50' },
    runs: { type: 'string', default: '5' },
  },
})
const machines = Number(values.machines)
const sizes = values.replicas.split(',').map(Number)
const runs = Number(values.runs)
const COMMAND = ['sleep', '3600']
const CPU_MILLIS = 50
const MEMORY = 16 * 2 ** 20
const POLL_MS = 20

const lab = await garyLab(machines)

/** Polls every engine until `count` containers carrying `labels` run; ms since `since`. */
async function runningAfter(labels, count, since) {
  for (;;) {
    const seen = await census(lab, lab.machines, labels)
    if (seen.total >= count) return Date.now() - since
    if (Date.now() - since > 180_000) throw new Error(`${count} running: not within 180 s (${seen.total})`)
    await sleep(POLL_MS)
  }
}

async function gone(labels) {
  for (let i = 0; (await census(lab, lab.machines, labels)).total > 0; i++) {
    if (i > 6000) throw new Error('containers still there after 120 s')
    await sleep(POLL_MS)
  }
  // Stopped containers of a removed workload are gone too: the next run starts on clean engines.
  for (const m of lab.machines) {
    for (;;) {
      const left = await lab.engine(m).list(labels)
      if (left.length === 0) break
      await sleep(100)
    }
  }
}

async function gary(replicas) {
  const text = `name: bench\nimage: ${TEST_IMAGE}\ncommand: [sleep, "3600"]\nreplicas: ${replicas}\nresources: {cpu: ${CPU_MILLIS}m, memory: 16Mi}\n`
  const since = Date.now()
  await applyThroughApi(lab, 1, text)
  const ms = await runningAfter({ [LABELS.workload]: 'bench' }, replicas, since)
  await lab.gary(1, ['rm', 'bench'])
  await gone({ [LABELS.workload]: 'bench' })
  return ms
}

async function plain(replicas) {
  const labels = { 'gary-bench': 'plain' }
  const since = Date.now()
  const started = await Promise.all(
    Array.from({ length: replicas }, (_, k) =>
      lab.engine(1 + (k % machines)).run({
        name: `gary-bench-plain-${k}`,
        image: TEST_IMAGE,
        command: COMMAND,
        labels,
        cpuMillis: CPU_MILLIS,
        memoryBytes: MEMORY,
      }),
    ),
  )
  const ms = await runningAfter(labels, replicas, since)
  await Promise.all(started.map((c, k) => lab.engine(1 + (k % machines)).remove(c.id)))
  await gone(labels)
  return ms
}

try {
  // What reaching machine 1's API from the host costs (bash, nsenter, curl): part of Gary's figure.
  const execCost = []
  for (let i = 0; i < 5; i++) {
    const since = Date.now()
    await lab.exec(1, ['true'])
    execCost.push(Date.now() - since)
  }
  console.log(`calling into machine 1 costs ${median(execCost)} ms (median of 5), counted in Gary's figures`)
  console.log()
  console.log(
    `| R | gary apply -> R running | ${machines} engines, R parallel docker run | ratio of medians |`,
  )
  console.log('| --- | --- | --- | --- |')
  for (const replicas of sizes) {
    const g = []
    const p = []
    for (let run = 0; run < runs; run++) {
      if (run % 2 === 0) {
        p.push(await plain(replicas))
        g.push(await gary(replicas))
      } else {
        g.push(await gary(replicas))
        p.push(await plain(replicas))
      }
    }
    console.log(`| ${replicas} | ${stats(g)} ms | ${stats(p)} ms | ${(median(g) / median(p)).toFixed(2)} |`)
  }
  console.log('(min / median / max of', runs, 'runs each)')
} finally {
  await lab.down()
}
