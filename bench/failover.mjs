// Failover benchmark: real daemons on one Docker engine. Each run loses one node that holds at
// least one slot, and times from the loss until every replica runs again (the last
// replacement's "running" log line). Two kinds of loss:
//   process crash  the daemon is SIGKILLed and its containers removed: its connections close and
//                  a redial is refused, so its peers know at once;
//   silent         the daemon is frozen (SIGSTOP: it sends nothing and resets nothing, and a
//                  redial to it times out) and its containers removed: its peers hear only
//                  silence, as from a machine powered off or cut off. It is then killed and
//                  started again for the next run.
// Real power-offs and cable cuts of separate machines are measured by bench/lab-failover.mjs.
//
//   npm run bench:failover -- [--nodes 5] [--replicas 10] [--runs 5] [--mode both|crash|silent]
//   GARY_BENCH_TRACE=1 also prints each run's timeline from the survivors' logs.
import '../packages/node/dist/polyfill.js'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { LABELS } from '../packages/node/dist/reconcile/container-labels.js'
import { DaemonProcess, waitFor } from '../packages/node/dist/testing/index.js'
import { DockerRuntime } from '../packages/runtime/dist/docker.js'
import { ensureTestImage, TEST_IMAGE } from '../packages/runtime/dist/test-image.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5' },
    replicas: { type: 'string', default: '10' },
    runs: { type: 'string', default: '5' },
    mode: { type: 'string', default: 'both' },
  },
})
const nodes = Number(values.nodes)
const replicas = Number(values.replicas)
const runs = Number(values.runs)
const MODES = { crash: 'process crash', silent: 'silent (SIGSTOP)' }
const modes = values.mode === 'both' ? ['crash', 'silent'] : [values.mode]
if (modes.some((mode) => !(mode in MODES))) throw new Error(`--mode takes both, crash or silent`)
const ARGS = ['--runtime', 'docker', '--allow', '/ip4/127.0.0.0/ipcidr/8']

const docker = new DockerRuntime()
await ensureTestImage(docker)
const work = await mkdtemp(join(tmpdir(), 'gary-failover-'))
const daemons = []

/** The nodes that are up and not frozen. */
const awake = () => daemons.filter((d) => d.running && !d.frozen)
const running = async () => {
  let count = 0
  for (const daemon of awake()) {
    const list = await docker.list({ [LABELS.node]: daemon.peerId, [LABELS.workload]: 'bench' })
    count += list.filter((c) => c.state === 'running').length
  }
  return count
}
const settled = () =>
  waitFor(
    `${replicas} replicas running with nothing else`,
    async () => {
      if ((await running()) !== replicas) return false
      const rows = await awake()[0].cli('ps')
      return rows.length === replicas && rows.every((row) => row.phase === 'running')
    },
    { timeoutMs: 60_000 },
  )
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

try {
  for (let i = 0; i < nodes; i++) {
    const dir = await mkdtemp(join(work, 'node-'))
    const join_ = i === 0 ? [] : [daemons[0].joinAddr]
    daemons.push(await new DaemonProcess({ dataDir: dir, join: join_, args: ARGS }).start())
  }
  await waitFor('all nodes alive', async () =>
    (await daemons[0].cli('nodes')).every((n) => n.state === 'alive'),
  )
  const spec = join(work, 'bench.yaml')
  await writeFile(
    spec,
    `name: bench\nimage: ${TEST_IMAGE}\ncommand: [sleep, "3600"]\nreplicas: ${replicas}\n`,
  )
  await daemons[0].cli('apply', '-f', spec)
  await settled()

  const summary = []
  let turn = 0
  for (const mode of modes) {
    const results = []
    let skipped = 0
    while (results.length < runs) {
      // Each run loses another node than the last (never the first, which the bench asks); a
      // node that holds no slot would lose nothing, and is passed over.
      const victim = daemons[1 + (turn++ % (nodes - 1))]
      const lost = (await docker.list({ [LABELS.node]: victim.peerId })).map((c) => c.id)
      if (lost.length === 0) {
        skipped++
        if (skipped > 4 * runs) throw new Error('no node other than the first holds a slot')
        continue
      }
      const survivors = daemons.filter((d) => d !== victim)
      const marks = survivors.map((d) => d.logs.length)
      const lostAt = Date.now()
      if (mode === 'crash') await victim.kill('SIGKILL')
      else {
        process.kill(victim.pid, 'SIGSTOP')
        victim.frozen = true
      }
      await Promise.all(lost.map((id) => docker.remove(id)))
      await settled()
      const since = (d, i) => d.logs.slice(marks[i])
      const replacements = survivors.flatMap((d, i) => since(d, i).filter((l) => l.msg === 'running'))
      if (replacements.length === 0) throw new Error(`run ${results.length + 1}: no slot was started again`)
      const done = Math.max(...replacements.map((l) => l.time))
      const deadAt = survivors.map((d, i) =>
        Math.min(
          ...since(d, i)
            .filter((l) => l.msg === 'member dead' && l.member === victim.peerId)
            .map((l) => l.time),
        ),
      )
      if (process.env.GARY_BENCH_TRACE === '1') {
        for (const [i, d] of survivors.entries())
          for (const l of since(d, i))
            if (!/gossip summary|peer (dis)?connected|member updated|ignored state/.test(l.msg))
              console.log(
                `  +${l.time - lostAt} ms ${d.peerId.slice(-6)} ${l.msg} ${l.workload ?? l.member?.slice(-6) ?? ''}/${l.slot ?? ''} ${l.reason ?? ''}`,
              )
      }
      const result = {
        slots: lost.length,
        ms: done - lostAt,
        firstDeadMs: Math.min(...deadAt) - lostAt,
        allDeadMs: Math.max(...deadAt) - lostAt,
      }
      results.push(result)
      console.log(
        `${MODES[mode]} run ${results.length}: ${result.slots} slot(s) lost, seen dead after ${result.firstDeadMs} ms (by all after ${result.allDeadMs} ms), all running after ${result.ms} ms`,
      )
      victim.frozen = false
      await victim.kill('SIGKILL')
      await victim.start()
      await settled()
      // The next loss must not land in the restarted node's warm-up, when it claims nothing yet.
      await waitFor('the restarted node to take work', () => victim.hasLog('view complete: taking new work'))
    }
    if (skipped > 0) console.log(`${MODES[mode]}: ${skipped} victim(s) passed over, holding no slot`)
    summary.push({ mode, results })
  }
  console.log()
  console.log(
    '| loss | nodes | replicas | runs | slots lost per run | seen dead by all, p50 | failover p50 | failover max |',
  )
  console.log('|---|---|---|---|---|---|---|---|')
  for (const { mode, results } of summary) {
    const times = results.map((r) => r.ms)
    console.log(
      `| ${MODES[mode]} | ${nodes} | ${replicas} | ${results.length} | ${results.map((r) => r.slots).join(', ')} | ${median(results.map((r) => r.allDeadMs))} ms | ${median(times)} ms | ${Math.max(...times)} ms |`,
    )
  }
} finally {
  await Promise.all(daemons.map((d) => d.kill('SIGTERM')))
  for (const daemon of daemons) {
    for (const c of await docker.list({ [LABELS.node]: daemon.peerId }))
      await docker.remove(c.id).catch(() => {})
  }
  await docker.close()
  await rm(work, { recursive: true, force: true })
}
