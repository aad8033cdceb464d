// Failover benchmark: real daemons on one Docker engine. A "machine loss" is a daemon SIGKILLed
// together with its containers; the figure is the time from the kill until every replica runs
// again (the last replacement's "running" log line), over several runs.
//
//   npm run bench:failover -- [--nodes 5] [--replicas 10] [--runs 5]
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
  },
})
const nodes = Number(values.nodes)
const replicas = Number(values.replicas)
const runs = Number(values.runs)
const ARGS = ['--runtime', 'docker', '--allow', '/ip4/127.0.0.0/ipcidr/8']

const docker = new DockerRuntime()
await ensureTestImage(docker)
const work = await mkdtemp(join(tmpdir(), 'gary-failover-'))
const daemons = []

const running = async () => {
  let count = 0
  for (const daemon of daemons.filter((d) => d.running)) {
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
      const rows = await daemons.find((d) => d.running).cli('ps')
      return rows.length === replicas && rows.every((row) => row.phase === 'running')
    },
    { timeoutMs: 60_000 },
  )

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

  const results = []
  for (let run = 0; run < runs; run++) {
    // Each run loses a different machine; the previous victim is back with its data dir.
    const victim = daemons[1 + (run % (nodes - 1))]
    const lost = (await docker.list({ [LABELS.node]: victim.peerId })).map((c) => c.id)
    const survivors = daemons.filter((d) => d !== victim)
    const marks = survivors.map((d) => d.logs.length)
    const killedAt = Date.now()
    await victim.kill('SIGKILL')
    await Promise.all(lost.map((id) => docker.remove(id)))
    await settled()
    const replacements = survivors.flatMap((d, i) =>
      d.logs.slice(marks[i]).filter((l) => l.msg === 'running'),
    )
    const done = Math.max(...replacements.map((l) => l.time))
    const deadAt = Math.min(
      ...survivors.map((d, i) =>
        Math.min(
          ...d.logs
            .slice(marks[i])
            .filter((l) => l.msg === 'member dead')
            .map((l) => l.time),
        ),
      ),
    )
    if (process.env.GARY_BENCH_TRACE === '1') {
      for (const [i, d] of survivors.entries())
        for (const l of d.logs.slice(marks[i]))
          if (!/gossip summary|peer (dis)?connected|member updated|ignored state/.test(l.msg))
            console.log(
              `  +${l.time - killedAt} ms ${d.peerId.slice(-6)} ${l.msg} ${l.workload ?? l.member?.slice(-6) ?? ''}/${l.slot ?? ''} ${l.reason ?? ''} ${l.msg === 'reconcile pass' ? JSON.stringify([l.warm, l.waitingFor, l.partialView, l.nodes, l.actions]) : ''}`,
            )
    }
    results.push({ slots: lost.length, ms: done - killedAt, detectMs: deadAt - killedAt })
    console.log(
      `run ${run + 1}: ${lost.length} slot(s) lost, seen dead after ${deadAt - killedAt} ms, all running after ${done - killedAt} ms`,
    )
    await victim.start()
    await settled()
    // The next loss must not land in the restarted node's warm-up, when it claims nothing yet.
    await waitFor('the restarted node to take work', () => victim.hasLog('view complete: taking new work'))
  }
  const times = results.map((r) => r.ms).sort((a, b) => a - b)
  const p50 = times[Math.floor((times.length - 1) / 2)]
  console.log()
  console.log(`| nodes | replicas | runs | failover p50 | failover max |`)
  console.log(`| ${nodes} | ${replicas} | ${runs} | ${p50} ms | ${times.at(-1)} ms |`)
} finally {
  await Promise.all(daemons.map((d) => d.kill('SIGTERM')))
  for (const daemon of daemons) {
    for (const c of await docker.list({ [LABELS.node]: daemon.peerId }))
      await docker.remove(c.id).catch(() => {})
  }
  await docker.close()
  await rm(work, { recursive: true, force: true })
}
