// Deploy benchmark, on one Docker engine: the time from `gary apply` of R replicas on a 3-node
// cluster until all R run, next to plain parallel `docker run` of the same containers (the ratio is
// Gary's orchestration overhead) and, when the engine can be a swarm, `docker service create
// --replicas R` of the same image.
//
//   npm run bench:deploy -- [--replicas 10,20,50] [--nodes 3] [--runs 3]
//   GARY_BENCH_TRACE=1 also prints when the declaration, claims, starts and runs happened.
import '../packages/node/dist/polyfill.js'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { LABELS } from '../packages/node/dist/reconcile/container-labels.js'
import { DaemonProcess, waitFor } from '../packages/node/dist/testing/index.js'
import { DockerRuntime } from '../packages/runtime/dist/docker.js'
import { ensureTestImage, TEST_IMAGE } from '../packages/runtime/dist/test-image.js'

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
const COMMAND = ['sleep', '3600']
const exec = promisify(execFile)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

const docker = new DockerRuntime()
await ensureTestImage(docker)
const work = await mkdtemp(join(tmpdir(), 'gary-deploy-'))
const daemons = []

/** Gary: apply, then the time until the last replica's "running" log line. */
async function garyDeploy(replicas) {
  const text = `name: bench\nimage: ${TEST_IMAGE}\ncommand: [sleep, "3600"]\nreplicas: ${replicas}\n`
  const marks = daemons.map((d) => d.logs.length)
  // Through the API, as the plain runs go through the engine's API: no CLI start-up on either side.
  const started = Date.now()
  const answer = await fetch(`http://${daemons[0].api}/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  })
  if (!answer.ok) throw new Error(`apply failed: ${await answer.text()}`)
  const runningLines = () =>
    daemons.flatMap((d, i) => d.logs.slice(marks[i]).filter((l) => l.msg === 'running'))
  await waitFor(`${replicas} replicas running`, () => runningLines().length >= replicas, {
    timeoutMs: 120_000,
    intervalMs: 20,
  })
  const ms = Math.max(...runningLines().map((l) => l.time)) - started
  if (process.env.GARY_BENCH_TRACE === '1') {
    const lines = daemons.flatMap((d, i) => d.logs.slice(marks[i]))
    const first = (msg) => Math.min(...lines.filter((l) => l.msg === msg).map((l) => l.time)) - started
    const last = (msg) => Math.max(...lines.filter((l) => l.msg === msg).map((l) => l.time)) - started
    console.log(
      `  gary ${replicas}: declared +${first('declaration received')}..${last('declaration received')}, claimed +${first('claimed')}..${last('claimed')}, starting +${first('claim settled: starting')}..${last('claim settled: starting')}, running +${first('running')}..${last('running')} ms`,
    )
  }
  await daemons[0].cli('rm', 'bench')
  await waitFor('the replicas to be gone', async () => (await countGary()) === 0, { timeoutMs: 120_000 })
  return ms
}

async function countGary() {
  let count = 0
  for (const d of daemons) count += (await docker.list({ [LABELS.node]: d.peerId })).length
  return count
}

/** Plain Docker: R `docker run`s at once, through the same engine API. */
async function dockerDeploy(replicas) {
  const started = Date.now()
  const ids = await Promise.all(
    Array.from({ length: replicas }, (_, i) =>
      docker.run({
        name: `gary-bench-plain-${i}`,
        image: TEST_IMAGE,
        command: COMMAND,
        labels: { 'gary.bench': 'plain' },
      }),
    ),
  )
  const ms = Date.now() - started
  await Promise.all(ids.map((c) => docker.remove(c.id)))
  return ms
}

/** Swarm mode, when the engine allows it: `docker service create --replicas R`, until R tasks run. */
async function swarmDeploy(replicas) {
  const started = Date.now()
  await exec('docker', [
    'service',
    'create',
    '--detach',
    '--quiet',
    '--name',
    'gary-bench',
    '--replicas',
    String(replicas),
    '--no-resolve-image',
    TEST_IMAGE,
    ...COMMAND,
  ])
  await waitFor(
    `${replicas} swarm tasks running`,
    async () =>
      (await docker.list({ 'com.docker.swarm.service.name': 'gary-bench' })).filter(
        (c) => c.state === 'running',
      ).length >= replicas,
    { timeoutMs: 180_000, intervalMs: 20 },
  )
  const ms = Date.now() - started
  await exec('docker', ['service', 'rm', 'gary-bench'])
  await waitFor(
    'swarm tasks gone',
    async () => (await docker.list({ 'com.docker.swarm.service.name': 'gary-bench' })).length === 0,
    {
      timeoutMs: 120_000,
    },
  )
  return ms
}

async function swarmAvailable() {
  const { stdout } = await exec('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])
  if (stdout.trim() === 'active') return { ok: true, initialised: false }
  try {
    await exec('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1'])
    return { ok: true, initialised: true }
  } catch (err) {
    return { ok: false, reason: err.stderr?.trim() || err.message }
  }
}

let swarm = { ok: false, reason: 'not tried' }
try {
  for (let i = 0; i < nodes; i++) {
    const dir = await mkdtemp(join(work, 'node-'))
    const joinAddrs = i === 0 ? [] : [daemons[0].joinAddr]
    daemons.push(
      await new DaemonProcess({ dataDir: dir, join: joinAddrs, args: ['--runtime', 'docker'] }).start(),
    )
  }
  await waitFor('all nodes alive and warm', () =>
    daemons.every((d) => d.hasLog('view complete: taking new work')),
  )
  swarm = await swarmAvailable()
  if (!swarm.ok) console.log(`swarm mode unavailable: ${swarm.reason}`)

  console.log(
    `| replicas | gary apply -> all running | parallel docker run | ratio |${swarm.ok ? ' docker service create |' : ''}`,
  )
  console.log(`|---|---|---|---|${swarm.ok ? '---|' : ''}`)
  for (const replicas of sizes) {
    const gary = []
    const plain = []
    const service = []
    for (let run = 0; run < runs; run++) {
      plain.push(await dockerDeploy(replicas))
      gary.push(await garyDeploy(replicas))
      if (swarm.ok) service.push(await swarmDeploy(replicas))
    }
    const g = median(gary)
    const p = median(plain)
    console.log(
      `| ${replicas} | ${g} ms | ${p} ms | ${(g / p).toFixed(2)} |${swarm.ok ? ` ${median(service)} ms |` : ''}`,
    )
  }
} finally {
  await Promise.all(daemons.map((d) => d.kill('SIGTERM')))
  for (const d of daemons)
    for (const c of await docker.list({ [LABELS.node]: d.peerId })) await docker.remove(c.id).catch(() => {})
  for (const c of await docker.list({ 'gary.bench': 'plain' })) await docker.remove(c.id).catch(() => {})
  if (swarm.ok) await exec('docker', ['service', 'rm', 'gary-bench']).catch(() => {})
  if (swarm.initialised) await exec('docker', ['swarm', 'leave', '--force']).catch(() => {})
  await docker.close()
  await rm(work, { recursive: true, force: true })
}
