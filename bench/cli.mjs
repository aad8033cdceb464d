// CLI start-up benchmark: wall time of `gary ps` against a running daemon, beside `docker ps`
// against the local engine (and `node -e 0`, the floor any Node program starts from). The
// commands run in turn, A B C A B C..., so that a machine whose speed drifts moves all three.
//
//   npm run bench:cli -- [--runs 20] [--replicas 10]
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DaemonProcess, GARY_BIN, waitFor } from '../packages/node/dist/testing/index.js'

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '20' }, replicas: { type: 'string', default: '10' } },
})
const runs = Number(values.runs)
const replicas = Number(values.replicas)

const work = await mkdtemp(join(tmpdir(), 'gary-bench-cli-'))
// The fake runtime: the figure is the CLI's, not the engine's; `gary ps` has the same rows to print.
const daemon = new DaemonProcess({ dataDir: work })
try {
  await daemon.start()
  const spec = join(work, 'web.yaml')
  await writeFile(spec, `name: web\nimage: busybox\nreplicas: ${replicas}\n`)
  await daemon.cli('apply', '-f', spec)
  await waitFor(`${replicas} slots running`, async () => {
    const rows = await daemon.cli('ps')
    return rows.length === replicas && rows.every((row) => row.phase === 'running')
  })

  const commands = {
    'gary ps': [process.execPath, [GARY_BIN, 'ps', '--api', daemon.api]],
    'docker ps': ['docker', ['ps']],
    'node -e 0': [process.execPath, ['-e', '0']],
  }
  const times = Object.fromEntries(Object.keys(commands).map((name) => [name, []]))
  for (let run = -1; run < runs; run++) {
    for (const [name, [file, args]] of Object.entries(commands)) {
      const start = performance.now()
      const result = spawnSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      const ms = performance.now() - start
      if (result.status !== 0) throw new Error(`${name} failed: ${result.stderr}`)
      // The first round warms the file cache and is not counted.
      if (run >= 0) times[name].push(ms)
    }
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]
  const gary = median(times['gary ps'])
  const dockerPs = median(times['docker ps'])
  console.log(`CLI start-up, ${runs} runs each, wall ms (min / median / max):`)
  for (const [name, list] of Object.entries(times)) {
    const sorted = [...list].sort((a, b) => a - b)
    console.log(
      `  ${name.padEnd(10)} ${sorted[0].toFixed(0)} / ${median(list).toFixed(0)} / ${sorted.at(-1).toFixed(0)}`,
    )
  }
  console.log(
    `gary ps median ${gary.toFixed(0)} ms, docker ps median ${dockerPs.toFixed(0)} ms, ratio ${(gary / dockerPs).toFixed(2)}`,
  )
} finally {
  await daemon.kill('SIGTERM')
  await rm(work, { recursive: true, force: true })
}
