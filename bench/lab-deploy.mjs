// Deploy on the lab (scripts/lab.sh, as root): `POST /v1/apply` of R replicas to machine 1's
// daemon until R run across the machines, against R parallel `docker run`s (create + start) of
// the same containers (same image, command and limits) spread over the same machines' engines.
//
// Both sides are timed the same way: the clock starts before the first call, and from then on
// every engine is polled (every 20 ms) until R containers run; the calls come from this process,
// Gary's through a relay on machine 1 (scripts/api-relay.mjs: a Unix socket in its /root, as each
// engine's socket is), so neither side pays for starting a process per call. Runs interleave and
// alternate which goes first.
//
// The host is shared: beside each figure the load average, and what each deploy cost in CPU, the
// lab's processes (daemons, engines, containerd, shims: everything in the machines' namespaces)
// and this process (the polls, the docker runs) apart, which contention does not inflate the way
// it inflates wall time.
//
// `--cpu` is the containers' CPU limit, the same on both sides: 50m by default; `none` asks for
// all the host's cores, which throttles nothing (a 50m quota throttles runc's own init in each
// start). A Gary workload always has a limit, so `none` is the nearest it comes to none; the
// daemons then offer 1024 cores each, or R of them would not fit.
//
//   npm run bench:lab-deploy -- [--machines 5] [--replicas 20,50] [--runs 5] [--cpu 50m|none]
//     [--trace] [--windows FILE]
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { availableParallelism, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { LABELS } from '../packages/node/dist/reconcile/container-labels.js'
import { LAB_SH } from '../packages/node/dist/testing/lab.js'
import { TEST_IMAGE } from '../packages/runtime/dist/test-image.js'
import { census, garyLab, median, sleep, stats } from './lab-common.mjs'

const { values } = parseArgs({
  options: {
    machines: { type: 'string', default: '5' },
    replicas: { type: 'string', default: '20,50' },
    runs: { type: 'string', default: '5' },
    cpu: { type: 'string', default: '50m' },
    // Also print, for each of Gary's runs, when each machine reached each step of the deploy.
    trace: { type: 'boolean', default: false },
    // Write each deploy's window (monotonic µs, the clock of a daemon's --cpu-prof samples) to
    // this JSON file, to split a profile's samples between Gary's deploys and the plain runs
    // (bench/profile-windows.mjs).
    windows: { type: 'string' },
  },
})
const machines = Number(values.machines)
const sizes = values.replicas.split(',').map(Number)
const runs = Number(values.runs)
const COMMAND = ['sleep', '3600']
const CPU_MILLIS =
  values.cpu === 'none'
    ? availableParallelism() * 1000
    : /^\d+m$/.test(values.cpu)
      ? Number(values.cpu.slice(0, -1))
      : Number.NaN
if (!(CPU_MILLIS >= 1)) throw new Error(`--cpu ${values.cpu}: say millicores (50m) or none`)
const MEMORY = 16 * 2 ** 20
const POLL_MS = 20
const RELAY = fileURLToPath(new URL('../scripts/api-relay.mjs', import.meta.url))
const CLOCK_TICKS = 100

const lab = await garyLab(machines, values.cpu === 'none' ? ['--cpu', '1024'] : [])
const relaySocket = `${lab.rootDir(1)}/api-relay.sock`
const relay = spawn('bash', [LAB_SH, 'exec', '1', 'node', RELAY, '/root/api-relay.sock'], {
  env: { ...process.env, GARY_LAB_ID: String(lab.id), GARY_LAB_OWNER: '1' },
  stdio: ['pipe', 'pipe', 'inherit'],
})
await new Promise((resolve, reject) => {
  relay.stdout.once('data', resolve)
  relay.once('exit', (code) => reject(new Error(`the API relay on machine 1 exited (${code})`)))
})

/** Machine 1's API, through the relay. */
function api(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: relaySocket, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(text))
            : reject(new Error(`${path}: ${res.statusCode} ${text}`)),
        )
      },
    )
    req.on('error', reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

/**
 * CPU ms spent so far by every process in the lab's machines (their reaped children included):
 * all of them, and the daemons' (every `node` process: the daemons and the API relay) apart.
 */
function labCpuMs() {
  let ticks = 0
  let nodeTicks = 0
  const byName = {}
  for (const i of lab.machines) {
    // scripts/lab.sh names machine i's network namespace garylab<lab>-m<i>; all of it runs there.
    const pids = execFileSync('ip', ['netns', 'pids', `garylab${lab.id}-m${i}`], { encoding: 'utf8' })
    for (const pid of pids.trim().split('\n')) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const used = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])
        ticks += used
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        byName[name] = (byName[name] ?? 0) + used
        if (name === 'node') nodeTicks += used
      } catch {
        // It exited meanwhile: its parent counts it once reaped.
      }
    }
  }
  const ms = (n) => (n * 1000) / CLOCK_TICKS
  return {
    all: ms(ticks),
    daemons: ms(nodeTicks),
    byName: Object.fromEntries(Object.entries(byName).map(([name, n]) => [name, ms(n)])),
  }
}

/**
 * Starts `act`, and polls every engine until `count` containers carrying `labels` run: the ms
 * since the start, and the CPU ms the lab and this process spent meanwhile.
 */
async function timeUntilRunning(labels, count, act) {
  const watch = values.trace ? watchEngines(labels) : undefined
  const labBefore = labCpuMs()
  const selfBefore = process.cpuUsage()
  const since = Date.now()
  const from = process.hrtime.bigint()
  const acting = act()
  acting.catch(() => {}) // awaited below
  for (;;) {
    const seen = await census(lab, lab.machines, labels)
    if (seen.total >= count) break
    if (Date.now() - since > 180_000) throw new Error(`${count} running: not within 180 s (${seen.total})`)
    await sleep(POLL_MS)
  }
  const ms = Date.now() - since
  const window = [Number(from / 1000n), Number(process.hrtime.bigint() / 1000n)]
  const labAfter = labCpuMs()
  const labMs = labAfter.all - labBefore.all
  const daemonsMs = labAfter.daemons - labBefore.daemons
  // By process name (a process that started and ended within the run counts in its parent's).
  const byName = Object.entries(labAfter.byName)
    .map(([name, n]) => [name, Math.round(n - (labBefore.byName[name] ?? 0))])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
  const self = process.cpuUsage(selfBefore)
  const result = await acting
  const engines = watch?.stop()
  return {
    ms,
    since,
    window,
    labMs,
    daemonsMs,
    byName,
    selfMs: (self.user + self.system) / 1000,
    result,
    engines,
  }
}

/**
 * The engines' `create` and `start` events of the containers carrying `labels`, per machine
 * (the engines share the host's clock): what each engine did, and when, for either side alike.
 */
function watchEngines(labels) {
  const abort = new AbortController()
  const events = new Map(lab.machines.map((i) => [i, []]))
  for (const i of lab.machines)
    (async () => {
      for await (const event of lab.engine(i).events(labels, abort.signal))
        if (event.kind === 'create' || event.kind === 'start') events.get(i).push(event)
    })().catch(() => {})
  return {
    stop() {
      abort.abort()
      return events
    },
  }
}

/**
 * One line per machine: its engine's creates and starts (first..last, ms after `t0`), and each
 * container's gap from its create to its start (min / median / max).
 */
function engineTrace(t0, engines) {
  const rows = []
  const gaps = []
  for (const [i, events] of engines) {
    const at = (kind) => events.filter((e) => e.kind === kind).map((e) => e.at - t0)
    const span = (xs) => (xs.length === 0 ? '-' : `${Math.min(...xs)}..${Math.max(...xs)}`)
    const created = new Map(events.filter((e) => e.kind === 'create').map((e) => [e.containerId, e.at]))
    for (const e of events)
      if (e.kind === 'start' && created.has(e.containerId)) gaps.push(e.at - created.get(e.containerId))
    rows.push(`m${i}: create ${span(at('create'))} start ${span(at('start'))}`)
  }
  return `${rows.join(' | ')} | create -> start ${stats(gaps)}`
}

/**
 * What every daemon has counted so far, summed over the machines: engine calls by kind
 * (`gary_engine_calls_total`), gossip messages by topic and direction, bytes sent on gossipsub
 * streams, reconcile passes.
 */
async function counted() {
  const sums = {}
  const add = (key, n) => {
    sums[key] = (sums[key] ?? 0) + n
  }
  for (const i of lab.machines) {
    const text = await lab.exec(i, ['curl', '-fsS', '--max-time', '5', 'http://127.0.0.1:7947/metrics'])
    for (const [, call, n] of text.matchAll(/^gary_engine_calls_total\{call="([a-zA-Z]+)"\} (\d+)/gm))
      add(`engine ${call}`, Number(n))
    for (const [, labels, n] of text.matchAll(/^gary_gossip_messages_total\{([^}]*)\} (\d+)/gm)) {
      const topic = /topic="([^"]*)"/.exec(labels)?.[1]
      const direction = /direction="([^"]*)"/.exec(labels)?.[1]
      add(`gossip ${topic} ${direction}`, Number(n))
    }
    for (const [, n] of text.matchAll(/^gary_reconcile_pass_duration_seconds_count (\d+)/gm))
      add('passes', Number(n))
    // Wall time in passes (engine listings included) and in the placement rules, and the daemon's CPU.
    for (const [, what, n] of text.matchAll(
      /^gary_(reconcile_pass|plan)_duration_seconds_sum ([0-9.e+-]+)/gm,
    ))
      add(`${what === 'plan' ? 'plan' : 'pass'} ms`, Math.round(Number(n) * 1000))
    for (const [, n] of text.matchAll(/^process_cpu_seconds_total ([0-9.e+-]+)/gm))
      add('cpu ms', Math.round(Number(n) * 1000))
    // Every gossipsub RPC sent, forwarded copies and control messages included (libp2p's counter).
    for (const [, n] of text.matchAll(
      /^libp2p_data_transfer_bytes_total\{protocol="\/meshsub\/[0-9.]+ sent"\} (\d+)/gm,
    ))
      add('meshsub bytes sent', Number(n))
  }
  return sums
}

/** What the daemons counted between two `counted()`. */
const since = (before, after) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([key, n]) => [key, n - (before[key] ?? 0)])
      .filter(([, n]) => n > 0),
  )
const sum = (counts, prefix) =>
  Object.entries(counts)
    .filter(([key]) => key.startsWith(prefix))
    .reduce((total, [, n]) => total + n, 0)

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

/** Deploys made so far: each gets its own generation. */
let deploys = 0

async function gary(replicas) {
  const marks = values.trace
    ? await Promise.all(lab.machines.map(async (i) => (await lab.logs(i)).length))
    : []
  // Each deploy a new version, as a release is: a daemon's claims of a generation it claimed
  // before (the same spec applied again after its removal) wait out the settle delay.
  deploys++
  const text = `name: bench\nimage: ${TEST_IMAGE}\ncommand: [sleep, "3600"]\nenv: {DEPLOY: "${deploys}"}\nreplicas: ${replicas}\nresources: {cpu: ${CPU_MILLIS}m, memory: 16Mi}\n`
  const labels = { [LABELS.workload]: 'bench' }
  const before = await counted()
  const run = await timeUntilRunning(labels, replicas, () => api('POST', '/v1/apply', { text }))
  run.counts = since(before, await counted())
  if (values.trace) await trace(marks, run)
  await api('DELETE', '/v1/workloads/bench')
  await gone(labels)
  return run
}

/**
 * When each machine reached each step of the last deploy, ms after the apply was sent (the
 * machines share the host's clock): the apply accepted, its first claim (the declaration arrived
 * one pass before), its first and last start (the settle delay ended, or every rival answered:
 * `early`), its first and last container running, as the daemons' info lines say.
 */
async function trace(marks, run) {
  const t0 = run.since
  const rows = []
  for (const [k, i] of lab.machines.entries()) {
    const lines = (await lab.logs(i))
      .slice(marks[k])
      .filter((l) => l.workload === 'bench' || l.msg?.startsWith('apply'))
    const at = (msg) => lines.filter((l) => msg(l.msg)).map((l) => l.time - t0)
    const span = (xs) => (xs.length === 0 ? '-' : `${Math.min(...xs)}..${Math.max(...xs)} (${xs.length})`)
    const accepted = at((m) => m.startsWith('apply accepted'))
    rows.push(
      `m${i}: ${accepted.length > 0 ? `accepted ${accepted[0]} ` : ''}claimed ${span(at((m) => m === 'claimed'))} ` +
        `starting ${span(at((m) => m.endsWith(': starting')))} (${at((m) => m === 'rivals answered: starting').length} early) ` +
        `running ${span(at((m) => m === 'running'))}`,
    )
  }
  console.log(`  trace (ms after the apply; all ${run.ms} ms): ${rows.join(' | ')}`)
  console.log(`  engines: ${engineTrace(t0, run.engines)}`)
  console.log(`  lab CPU by process (ms): ${cpuByName(run)}`)
  console.log(`  counted by the daemons until all ran: ${JSON.stringify(run.counts)}`)
}

const cpuByName = (run) => run.byName.map(([name, n]) => `${name} ${n}`).join(', ')

async function plain(replicas) {
  const labels = { 'gary-bench': 'plain' }
  const engineOf = (k) => lab.engine(1 + (k % machines))
  const run = await timeUntilRunning(labels, replicas, () =>
    Promise.all(
      Array.from({ length: replicas }, (_, k) =>
        engineOf(k).run({
          name: `gary-bench-plain-${k}`,
          image: TEST_IMAGE,
          command: COMMAND,
          labels,
          cpuMillis: CPU_MILLIS,
          memoryBytes: MEMORY,
        }),
      ),
    ),
  )
  if (values.trace)
    console.log(
      `  plain run engines (all ${run.ms} ms): ${engineTrace(run.since, run.engines)}\n  lab CPU by process (ms): ${cpuByName(run)}`,
    )
  await Promise.all(run.result.map((c, k) => engineOf(k).remove(c.id)))
  await gone(labels)
  return run
}

const load = () => loadavg()[0].toFixed(1)
const windows = []
const ms = (xs) => stats(xs.map(Math.round))

try {
  console.log(
    `daemons: ${process.env.GARY_LAB_BIN ?? 'this worktree'}; CPU limit ${CPU_MILLIS}m (--cpu ${values.cpu}); load average ${load()}`,
  )
  console.log(
    `| R | gary apply -> R running | ${machines} engines, R parallel docker run | ratio of medians | lab CPU per deploy, gary / docker (ratio) | load average |`,
  )
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const replicas of sizes) {
    const g = []
    const p = []
    const loads = [load()]
    for (let run = 0; run < runs; run++) {
      if (run % 2 === 0) {
        p.push(await plain(replicas))
        g.push(await gary(replicas))
      } else {
        g.push(await gary(replicas))
        p.push(await plain(replicas))
      }
    }
    loads.push(load())
    for (const r of g) windows.push({ kind: 'gary', replicas, window: r.window })
    for (const r of p) windows.push({ kind: 'docker', replicas, window: r.window })
    if (values.windows !== undefined) writeFileSync(values.windows, JSON.stringify(windows))
    const gMs = median(g.map((r) => r.ms))
    const pMs = median(p.map((r) => r.ms))
    const gCpu = median(g.map((r) => r.labMs))
    const pCpu = median(p.map((r) => r.labMs))
    console.log(
      `| ${replicas} | ${ms(g.map((r) => r.ms))} ms | ${ms(p.map((r) => r.ms))} ms | ${(gMs / pMs).toFixed(2)} | ${Math.round(gCpu)} / ${Math.round(pCpu)} ms (${(gCpu / pCpu).toFixed(2)}) | ${loads.join(' -> ')} |`,
    )
    const med = (count) => median(g.map((r) => count(r.counts)))
    const gossip = (direction) => (counts) =>
      Object.entries(counts)
        .filter(([key]) => key.startsWith('gossip ') && key.endsWith(` ${direction}`))
        .reduce((total, [, n]) => total + n, 0)
    console.log(
      `|   | counted by the daemons until all ran (medians, all machines): engine calls ${(med((c) => sum(c, 'engine ')) / replicas).toFixed(2)} per container (docker run: create, start, inspect); gossip messages published ${med(gossip('out'))}, received ${med(gossip('in'))}; bytes sent on gossipsub streams ${med((c) => sum(c, 'meshsub bytes sent'))}; reconcile passes ${med((c) => sum(c, 'passes'))} |`,
    )
    console.log(
      `|   | of the lab's CPU, the daemons' (medians): gary ${Math.round(median(g.map((r) => r.daemonsMs)))} ms, docker ${Math.round(median(p.map((r) => r.daemonsMs)))} ms; this process's: gary ${Math.round(median(g.map((r) => r.selfMs)))} ms, docker ${Math.round(median(p.map((r) => r.selfMs)))} ms |`,
    )
  }
  console.log(`(min / median / max of ${runs} runs each; 1-minute load average before and after each size)`)
} finally {
  relay.stdin.end()
  // Stopped cleanly first: a daemon run with GARY_LAB_NODE_ARGS="--cpu-prof ..." writes its profile then.
  for (const i of lab.machines) await lab.stopDaemon(i).catch(() => {})
  await lab.down()
}
