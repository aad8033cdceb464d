// Rolling update benchmark, on one Docker engine: a workload of R replicas updated to a new
// version with `maxUnavailable: 2` and `order: start-first`, from the apply until every replica
// runs the new version and none of the old is left, against the same update of a swarm service
// (`docker service update`, `--update-parallelism 2 --update-order start-first`) on a single-node
// swarm, when the engine can be one.
//
// Both sides get the same containers (image, command, limits, init) and are timed the same way:
// from the request until a poll of the engine (every 20 ms, the same query for each side) finds R
// containers of the new version running and none of the old one. Neither side has a health check
// or a monitor period (Gary `monitor: 0s`, swarm `--update-monitor 0s`). The sides alternate
// which goes first from run to run.
//
//   npm run bench:rollout -- [--replicas 10] [--nodes 3] [--runs 5]
import '../packages/node/dist/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { waitFor } from '../packages/node/dist/testing/index.js'
import { DockerRuntime } from '../packages/runtime/dist/docker.js'
import { ensureTestImage, TEST_IMAGE } from '../packages/runtime/dist/test-image.js'
import { median, startDaemons, stopDaemons, swarmAvailable, swarmDone } from './engine-common.mjs'

const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '10' },
    nodes: { type: 'string', default: '3' },
    runs: { type: 'string', default: '5' },
  },
})
const replicas = Number(values.replicas)
const nodes = Number(values.nodes)
const runs = Number(values.runs)
const CPU_MILLIS = 100
const MEMORY_BYTES = 32 * 2 ** 20
const POLL_MS = 20
const spread = (xs) => `${Math.min(...xs)} / ${median(xs)} / ${Math.max(...xs)}`

const docker = new DockerRuntime()
await ensureTestImage(docker)
const work = await mkdtemp(join(tmpdir(), 'gary-rollout-'))
const daemons = []

/** The side's containers of `version` running, and of any other version running. */
async function census(side, version) {
  const all = await docker.list({ 'gary.bench': side })
  const fresh = all.filter((c) => c.labels['gary.bench.version'] === version && c.state === 'running').length
  // Swarm keeps its old tasks' containers, stopped, as history: only running ones count.
  const stale = all.filter((c) => c.labels['gary.bench.version'] !== version && c.state === 'running').length
  return { fresh, stale }
}

/** From `started` until R containers of `version` run and none of another is left. */
async function updatedAfter(side, version, started) {
  await waitFor(
    `${replicas} ${side} containers at ${version}, none older`,
    async () => {
      const { fresh, stale } = await census(side, version)
      return fresh >= replicas && stale === 0
    },
    { timeoutMs: 300_000, intervalMs: POLL_MS },
  )
  return Date.now() - started
}

const garySpec = (version) =>
  [
    'name: bench',
    `image: ${TEST_IMAGE}`,
    'command: [sleep, "3600"]',
    `replicas: ${replicas}`,
    `env: {VERSION: "${version}"}`,
    `resources: {cpu: ${CPU_MILLIS}m, memory: 32Mi}`,
    `labels: {gary.bench: gary, gary.bench.version: "${version}"}`,
    'update: {maxUnavailable: 2, order: start-first, monitor: 0s}',
  ].join('\n')

async function garyApply(version) {
  const answer = await fetch(`http://${daemons[0].api}/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: garySpec(version) }),
  })
  if (!answer.ok) throw new Error(`apply failed: ${await answer.text()}`)
}

/** Gary: v1 deployed, then the update to v2 timed. */
async function garyUpdate(run) {
  await garyApply(`a${run}`)
  await updatedAfter('gary', `a${run}`, Date.now())
  const started = Date.now()
  await garyApply(`b${run}`)
  const ms = await updatedAfter('gary', `b${run}`, started)
  await daemons[0].cli('rm', 'bench')
  await waitFor(
    'the gary containers to be gone',
    async () => (await docker.list({ 'gary.bench': 'gary' })).length === 0,
    {
      timeoutMs: 120_000,
    },
  )
  return ms
}

const swarmSpec = (version) => ({
  Name: 'gary-bench-rollout',
  TaskTemplate: {
    ContainerSpec: {
      Image: TEST_IMAGE,
      Command: ['sleep', '3600'],
      Env: [`VERSION=${version}`],
      Init: true,
      Labels: { 'gary.bench': 'swarm', 'gary.bench.version': version },
    },
    Resources: { Limits: { NanoCPUs: CPU_MILLIS * 1_000_000, MemoryBytes: MEMORY_BYTES } },
    RestartPolicy: { Condition: 'none' },
  },
  Mode: { Replicated: { Replicas: replicas } },
  UpdateConfig: { Parallelism: 2, Order: 'start-first', Monitor: 0, FailureAction: 'pause' },
})

/** Swarm: a service at v1, then `docker service update` to v2 timed. */
async function swarmUpdate(run) {
  const created = await docker.docker.createService(swarmSpec(`a${run}`))
  const service = docker.docker.getService(created.id)
  await updatedAfter('swarm', `a${run}`, Date.now())
  const { Version } = await service.inspect()
  const started = Date.now()
  await service.update({ version: Version.Index, ...swarmSpec(`b${run}`) })
  const ms = await updatedAfter('swarm', `b${run}`, started)
  await service.remove()
  await waitFor(
    'the swarm containers to be gone',
    async () => (await docker.list({ 'gary.bench': 'swarm' })).length === 0,
    {
      timeoutMs: 120_000,
    },
  )
  return ms
}

let swarm = { ok: false, reason: 'not tried' }
try {
  await startDaemons(work, nodes, daemons)
  swarm = await swarmAvailable(docker)
  if (!swarm.ok) console.log(`swarm mode unavailable: ${swarm.reason}`)
  const sides = { gary: garyUpdate, ...(swarm.ok ? { swarm: swarmUpdate } : {}) }
  const names = Object.keys(sides)
  const times = Object.fromEntries(names.map((name) => [name, []]))
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? names : [...names].reverse()
    for (const name of order) times[name].push(await sides[name](run))
    console.log(
      `  run ${run + 1} (${order.join(', ')}): ${order.map((n) => `${n} ${times[n].at(-1)} ms`).join(', ')}`,
    )
  }
  console.log(
    `| replicas | gary update, min / median / max |${swarm.ok ? ' swarm service update, min / median / max | ratio of medians |' : ''}`,
  )
  console.log(`|---|---|${swarm.ok ? '---|---|' : ''}`)
  const g = median(times.gary)
  console.log(
    `| ${replicas} | ${spread(times.gary)} ms |${swarm.ok ? ` ${spread(times.swarm)} ms | ${(g / median(times.swarm)).toFixed(2)} |` : ''}`,
  )
} finally {
  await stopDaemons(daemons, docker)
  await swarmDone(docker, swarm, 'gary-bench-rollout')
  await docker.close()
  await rm(work, { recursive: true, force: true })
}
