import { describe, expect, it } from 'vitest'
import type { HistoryRow } from '../packages/node/src/api/lifecycle-routes.js'
import type { WorkloadRow } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import type { LogItem } from '../packages/node/src/logs/sources.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import { type DaemonProcess, waitFor } from '../packages/node/src/testing/index.js'
import { docker } from './cluster-checks.js'
import { dockerCluster, garyExit } from './docker-cluster.js'
import { dockerForTests } from './docker-required.js'

// Health that heals and logs that survive, end to end: two real daemons sharing one Docker
// engine. A crash loop is shown `restarting` between its attempts, never `running yes`;
// `logs --previous` reads a refused slot's output from the other node; an update whose health
// never passes rolls back, and `apply --wait` fails saying why. An unhealthy container's restart
// and a replaced container's previous logs are shown on the lab (test/lab/workloads.test.ts).

const available = await dockerForTests('health and previous logs on Docker')
const SLOW_MS = 60_000

describe.runIf(available)('health that heals, logs that survive, on a shared Docker engine', () => {
  const { daemons, apply } = dockerCluster({ emptyAfterEach: true })

  it(
    'shows a crash loop restarting between attempts, never running yes',
    async () => {
      // Each attempt runs a fifth of a second: long enough for a poll every 50 ms to catch it, were
      // it shown serving, and short of the second a restarted container must run to be shown so
      // even when a loaded engine reports its exit late (at load 30, 0.5 s runs were seen at 1 s).
      await apply(
        'loop',
        `name: loop
image: gary/busybox:test
command: [sh, -c, 'echo boom; sleep 0.2; exit 1']
restart: {policy: always, maxRetries: 20}
`,
      )
      const rows: SlotRow[] = []
      let served = false
      let crashed = false
      await waitFor(
        'the loop to be restarted 4 times (or shown serving between attempts), polled from the other node',
        async () => {
          // The API straight away, not the CLI: a poll every 50 ms or so, not one a CLI start.
          const all = (await (await fetch(`http://${daemons[1]!.api}/v1/slots`)).json()) as SlotRow[]
          const row = all.find((r) => r.workload === 'loop' && r.node !== null)
          if (row === undefined) return false
          // Its first run serves until it crashes; every row after that is between attempts or in one.
          served ||= row.phase === 'running'
          crashed ||= served && row.phase !== 'running'
          if (crashed) rows.push(row)
          return (row.restarts ?? 0) >= 4 || rows.some((r) => r.phase === 'running' && r.ready)
        },
        { timeoutMs: 45_000, intervalMs: 50 },
      )
      const serving = rows.filter((row) => row.phase === 'running' && row.ready)
      expect(
        serving,
        `rows shown running and ready between the attempts of a crash loop: ${JSON.stringify(rows.map((r) => [r.phase, r.ready, r.restarts, r.lastExit, r.containerId?.slice(0, 6)]))}`,
      ).toEqual([])
      expect(rows.length).toBeGreaterThan(20)
      expect(rows.some((row) => row.phase === 'restarting' && row.lastExit === 'exit 1')).toBe(true)
    },
    SLOW_MS,
  )

  it(
    "logs --previous shows a refused slot's last lines once its containers are gone",
    async () => {
      // Refused on every node: its containers are gone, its last lines are not.
      await apply(
        'doomed',
        `name: doomed
image: gary/busybox:test
command: [sh, -c, 'echo "doomed $(hostname)"; exit 5']
restart: {policy: on-failure, maxRetries: 1}
`,
      )
      await waitFor(
        'both nodes to refuse doomed',
        async () => {
          const rows = await daemons[1]!.cli<SlotRow[]>('ps', 'doomed')
          return rows.length === 1 && rows[0]!.phase === 'unschedulable'
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      )
      expect(await docker.list({ [LABELS.workload]: 'doomed' })).toEqual([])
      const doomed = await logs(daemons[1]!, 'doomed', '--previous')
      expect(
        doomed.some((line) => /^doomed \w+$/.test(line)),
        `previous logs: ${doomed.join(' | ')}`,
      ).toBe(true)
    },
    SLOW_MS,
  )

  it(
    'rolls back an update whose health never passes, and apply --wait fails naming the reason',
    async () => {
      const spec = (version: string, port: number) => `name: app
image: gary/busybox:test
command: [sh, -c, 'mkdir -p /www; echo ${version} > /www/index.html; exec httpd -f -p ${port} -h /www']
replicas: 2
health: {http: {path: /, port: 8080}, interval: 300ms, timeout: 1s, retries: 2}
restart: {policy: always, maxRetries: 20}
update: {maxUnavailable: 1, monitor: 1s}
`
      const good = await apply('app', spec('v1', 8080), '--wait', '--timeout', '40s')
      expect(good.code, good.stderr).toBe(0)
      const [before] = await daemons[0]!.cli<WorkloadRow[]>('get')
      // v2 serves on another port than its check asks: it runs, and never turns healthy.
      const failed = await apply('app', spec('v2', 8081), '--wait', '--timeout', '40s')
      expect(failed.code, `apply --wait: ${failed.stdout}`).toBe(1)
      expect(failed.stderr).toContain('rollout failed')
      expect(failed.stderr).toContain('unhealthy: health check failed 2 times in a row')
      await waitFor(
        'every node to declare v1 again and run 2 ready slots of it',
        async () => {
          for (const daemon of daemons) {
            const [row] = await daemon.cli<WorkloadRow[]>('get')
            if (row?.generation !== before!.generation) return false
            const slots = await daemon.cli<SlotRow[]>('ps', 'app')
            if (slots.length !== 2 || !slots.every((s) => s.generation === before!.generation && s.ready))
              return false
          }
          return true
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      )
      const [last] = await daemons[1]!.cli<HistoryRow[]>('history', 'app')
      expect(last!.cause).toMatch(/^rolled back revision 2: .*unhealthy: health check failed/)
    },
    SLOW_MS,
  )
})

/** `gary logs NAME ARGS --json` against a daemon: the lines, in order. */
async function logs(daemon: DaemonProcess, name: string, ...args: string[]): Promise<string[]> {
  const { code, stdout, stderr } = await garyExit(['logs', name, ...args, '--json', '--api', daemon.api])
  if (code !== 0) throw new Error(`gary logs ${name} ${args.join(' ')} failed (${code}): ${stderr}`)
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as LogItem)
    .flatMap((item) => ('line' in item ? [item.line] : []))
}
