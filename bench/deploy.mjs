// Deploy benchmark, on one Docker engine: the time from `gary apply` of R replicas on a 3-node
// cluster until all R run, next to plain `docker run`s of the same containers at once (the ratio
// is Gary's orchestration overhead) and, when the engine can be a swarm, a swarm service of R
// replicas of the same containers.
//
// The three sides get the same work and are timed the same way:
// - the same containers: Gary's own container spec (`containerSpecFor`: image, command, CPU and
//   memory limits, init, no restart policy) for the plain runs, the same image, command, limits
//   and init for the swarm service;
// - the same engine calls per container for Gary and the plain runs (image check, create,
//   start); the swarm service is created through the engine's API, not the `docker` CLI;
// - one clock: from the request until a poll of the engine (every 20 ms, the same query for each
//   side) finds all R containers running;
// - the order of the sides rotates from run to run, so that none always runs first.
//
//   npm run bench:deploy -- [--replicas 10,20,50] [--nodes 3] [--runs 3]
//   GARY_BENCH_TRACE=1 also prints when the declaration, claims, starts and runs happened.
import '../packages/node/dist/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { containerSpecFor } from '../packages/node/dist/reconcile/index.js'
import { waitFor } from '../packages/node/dist/testing/index.js'
import { normaliseWorkload } from '../packages/protocol/dist/index.js'
import { DockerRuntime } from '../packages/runtime/dist/docker.js'
import { ensureTestImage, TEST_IMAGE } from '../packages/runtime/dist/test-image.js'
import { median, startDaemons, stopDaemons, swarmAvailable, swarmDone } from './engine-common.mjs'

const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '10,20,50' },
    nodes: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
  },
})
const sizes = values.replicas.split(',').map(Number)
const nodes = Number(values.nodes)
const runs = Number(values.runs)
const CPU_MILLIS = 100
const MEMORY = '32Mi'
const MEMORY_BYTES = 32 * 2 ** 20
const POLL_MS = 20

const docker = new DockerRuntime()
await ensureTestImage(docker)
const work = await mkdtemp(join(tmpdir(), 'gary-deploy-'))
const daemons = []

/** The bench's workload, as Gary normalises it; `side` labels each side's containers apart. */
function workload(replicas, side) {
  const parsed = normaliseWorkload({
    name: 'bench',
    image: TEST_IMAGE,
    command: ['sleep', '3600'],
    replicas,
    resources: { cpu: `${CPU_MILLIS}m`, memory: MEMORY },
    labels: { 'gary.bench': side },
  })
  if (!parsed.ok) throw new Error(parsed.problems.join('; '))
  return parsed.workloads[0]
}

/** The side's containers on the engine, in any state. */
const containersOf = (side) => docker.list({ 'gary.bench': side })

/** From `started` until a poll finds `replicas` of the side's containers running. */
async function runningAfter(side, replicas, started) {
  await waitFor(
    `${replicas} ${side} containers running`,
    async () => (await containersOf(side)).filter((c) => c.state === 'running').length >= replicas,
    { timeoutMs: 180_000, intervalMs: POLL_MS },
  )
  return Date.now() - started
}

async function gone(side) {
  await waitFor(`the ${side} containers to be gone`, async () => (await containersOf(side)).length === 0, {
    timeoutMs: 120_000,
  })
}

/** Gary: apply through the API (no CLI start-up on any side). */
async function garyDeploy(replicas) {
  const text = [
    'name: bench',
    `image: ${TEST_IMAGE}`,
    'command: [sleep, "3600"]',
    `replicas: ${replicas}`,
    `resources: {cpu: ${CPU_MILLIS}m, memory: ${MEMORY}}`,
    'labels: {gary.bench: gary}',
  ].join('\n')
  const marks = daemons.map((d) => d.logs.length)
  const started = Date.now()
  const answer = await fetch(`http://${daemons[0].api}/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  })
  if (!answer.ok) throw new Error(`apply failed: ${await answer.text()}`)
  const ms = await runningAfter('gary', replicas, started)
  if (process.env.GARY_BENCH_TRACE === '1') {
    const lines = daemons.flatMap((d, i) => d.logs.slice(marks[i]))
    const span = (msg) => {
      const times = lines.filter((l) => l.msg === msg).map((l) => l.time - started)
      return `${Math.min(...times)}..${Math.max(...times)}`
    }
    console.log(
      `  gary ${replicas}: declared +${span('declaration received')}, claimed +${span('claimed')}, starting +${span('claim settled: starting')}, running +${span('running')} ms`,
    )
  }
  await daemons[0].cli('rm', 'bench')
  await gone('gary')
  return ms
}

/** Plain Docker: every container at once, each with the calls Gary makes for one. */
async function dockerDeploy(replicas) {
  const w = workload(replicas, 'plain')
  const specs = Array.from({ length: replicas }, (_, slot) =>
    containerSpecFor('bench-plain', w, {
      workload: w.name,
      slot,
      generation: 'plain',
      phase: 'claimed',
      since: { wall: Date.now(), logical: slot },
      ready: false,
      endpoints: [],
    }),
  )
  const started = Date.now()
  await Promise.all(
    specs.map(async (spec) => {
      await docker.ensureImage(spec.image)
      const created = await docker.create(spec)
      await docker.start(created.id)
    }),
  )
  const ms = await runningAfter('plain', replicas, started)
  await Promise.all((await containersOf('plain')).map((c) => docker.remove(c.id)))
  return ms
}

/** Swarm mode, when the engine allows it: a service of R replicas, through the engine's API. */
async function swarmDeploy(replicas) {
  const started = Date.now()
  const service = await docker.docker.createService({
    Name: 'gary-bench',
    TaskTemplate: {
      ContainerSpec: {
        Image: TEST_IMAGE,
        Command: ['sleep', '3600'],
        Init: true,
        Labels: { 'gary.bench': 'swarm' },
      },
      Resources: { Limits: { NanoCPUs: CPU_MILLIS * 1_000_000, MemoryBytes: MEMORY_BYTES } },
      RestartPolicy: { Condition: 'none' },
    },
    Mode: { Replicated: { Replicas: replicas } },
  })
  const ms = await runningAfter('swarm', replicas, started)
  await docker.docker.getService(service.id).remove()
  await gone('swarm')
  return ms
}

let swarm = { ok: false, reason: 'not tried' }
try {
  await startDaemons(work, nodes, daemons)
  swarm = await swarmAvailable(docker)
  if (!swarm.ok) console.log(`swarm mode unavailable: ${swarm.reason}`)
  const sides = { gary: garyDeploy, plain: dockerDeploy, ...(swarm.ok ? { swarm: swarmDeploy } : {}) }
  const names = Object.keys(sides)

  console.log(
    `| replicas | gary apply -> all running | parallel docker run | ratio |${swarm.ok ? ' swarm service |' : ''}`,
  )
  console.log(`|---|---|---|---|${swarm.ok ? '---|' : ''}`)
  let turn = 0
  for (const replicas of sizes) {
    const times = Object.fromEntries(names.map((name) => [name, []]))
    for (let run = 0; run < runs; run++) {
      const order = names.map((_, i) => names[(i + turn) % names.length])
      turn++
      for (const name of order) times[name].push(await sides[name](replicas))
      if (process.env.GARY_BENCH_TRACE === '1')
        console.log(
          `  run ${run + 1} (${order.join(', ')}): ${order.map((n) => `${n} ${times[n].at(-1)} ms`).join(', ')}`,
        )
    }
    const g = median(times.gary)
    const p = median(times.plain)
    console.log(
      `| ${replicas} | ${g} ms | ${p} ms | ${(g / p).toFixed(2)} |${swarm.ok ? ` ${median(times.swarm)} ms |` : ''}`,
    )
  }
} finally {
  await stopDaemons(daemons, docker)
  for (const c of await containersOf('plain')) await docker.remove(c.id).catch(() => {})
  await swarmDone(docker, swarm, 'gary-bench')
  await docker.close()
  await rm(work, { recursive: true, force: true })
}
