import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { HistoryRow } from '../packages/node/src/api/lifecycle-routes.js'
import type { NodeView, WorkloadRow } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import type { LogItem } from '../packages/node/src/logs/sources.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import {
  cleanup,
  DaemonProcess,
  GARY_BIN,
  waitFor,
  withoutGarySettings,
} from '../packages/node/src/testing/index.js'
import { converged, docker } from './cluster-checks.js'
import { dockerForTests } from './docker-required.js'

// Health that heals and logs that survive, end to end: two real daemons sharing one Docker
// engine. An unhealthy container is restarted; a crash loop is shown `restarting` between its
// attempts, never `running yes`; `logs --previous` reads a replaced or refused container's
// output from the node that does not hold the slot; an update whose health never passes rolls
// back, and `apply --wait` fails saying why.

const NODE_ARGS = ['--runtime', 'docker', '--cpu', '2', '--memory', '2Gi']
const available = await dockerForTests('health and previous logs on Docker')
const SLOW_MS = 60_000

describe.runIf(available)('health that heals, logs that survive, on a shared Docker engine', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let files: string

  const apply = async (name: string, text: string, ...flags: string[]) => {
    const path = join(files, `${name}.yaml`)
    await writeFile(path, text)
    return gary(['apply', '-f', path, '--api', daemons[0]!.api, ...flags])
  }
  /** The workload's one slot as a node sees it, and the daemon that does not hold it. */
  const slotOf = async (name: string, asked = daemons[0]!) => {
    const row = (await asked.cli<SlotRow[]>('ps', name)).find(
      (r) => r.node !== null && r.phase !== 'unschedulable',
    )
    return { row, other: daemons.find((d) => d.peerId !== row?.node)! }
  }

  beforeAll(async () => {
    files = await DaemonProcess.tempDir('gary-specs-')
    dirs.push(files)
    for (let i = 0; i < 2; i++) {
      const dir = await DaemonProcess.tempDir()
      dirs.push(dir)
      const join = i === 0 ? [] : [daemons[0]!.joinAddr]
      daemons.push(
        await new DaemonProcess({ dataDir: dir, join, args: NODE_ARGS, startTimeoutMs: 60_000 }).start(),
      )
    }
    await waitFor('2 nodes alive everywhere', async () => {
      for (const d of daemons)
        if ((await d.cli<NodeView[]>('nodes')).filter((n) => n.state === 'alive').length !== 2) return false
      return true
    })
  })

  afterEach(async () => {
    for (const row of await daemons[0]!.cli<WorkloadRow[]>('get')) await daemons[0]!.cli('rm', row.name)
    await converged(daemons, {})
  })

  afterAll(async () => {
    await cleanup(daemons, dirs)
    for (const daemon of daemons)
      for (const container of await docker.list({ [LABELS.node]: daemon.peerId }))
        await docker.remove(container.id).catch(() => {})
  })

  it(
    'restarts an unhealthy container: ps shows restarting, then running again, and the restart count grows',
    async () => {
      // Healthy for 2 s, then its check fails: two failures in a row make it unhealthy.
      await apply(
        'sick',
        `name: sick
image: gary/busybox:test
command: [sh, -c, 'echo yes > /tmp/ok; sleep 2; : > /tmp/ok; exec sleep 3600']
health: {command: [sh, -c, 'test -s /tmp/ok'], interval: 300ms, timeout: 1s, retries: 2}
restart: {policy: always, maxRetries: 20}
`,
      )
      const seen: SlotRow[] = []
      const poll = async () => {
        const { row } = await slotOf('sick', daemons[1])
        if (row !== undefined) seen.push(row)
        return row
      }
      await waitFor('sick to run ready', async () => (await poll())?.ready === true, { timeoutMs: 20_000 })
      const first = seen.at(-1)!.containerId
      const restarting = await waitFor(
        'ps to show sick restarting for its failed health check',
        async () => {
          const row = await poll()
          return row?.phase === 'restarting' && row.lastExit === 'unhealthy' ? row : undefined
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      )
      expect(restarting.ready).toBe(false)
      const again = await waitFor(
        'sick to run ready again in a new container',
        async () => {
          const row = await poll()
          return row?.phase === 'running' && row.ready && (row.restarts ?? 0) >= 1 ? row : undefined
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      )
      expect(again.containerId).not.toBe(first)
      await waitFor(
        'the restart count to grow past 1 as it turns unhealthy again',
        async () => ((await poll())?.restarts ?? 0) >= 2,
        { timeoutMs: 25_000, intervalMs: 200 },
      )
      // Between the attempts it was never shown running and ready.
      const between = seen.filter((row) => row.phase === 'restarting')
      expect(between.length).toBeGreaterThan(0)
      expect(between.every((row) => !row.ready)).toBe(true)
    },
    SLOW_MS,
  )

  it(
    'shows a crash loop restarting between attempts, never running yes',
    async () => {
      // Each attempt runs half a second: long enough for a poll to catch it, were it shown serving.
      await apply(
        'loop',
        `name: loop
image: gary/busybox:test
command: [sh, -c, 'echo boom; sleep 0.5; exit 1']
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
    "logs --previous shows a crashed container's output after it was replaced, from the other node; a refused slot's too",
    async () => {
      // Each container says its name (its hostname) and crashes after a second.
      await apply(
        'crashy',
        `name: crashy
image: gary/busybox:test
command: [sh, -c, 'echo "hello from $(hostname)"; sleep 1; echo "bye from $(hostname)"; exit 4']
restart: {policy: always, maxRetries: 20}
`,
      )
      await waitFor(
        'crashy to be restarted',
        async () => ((await slotOf('crashy')).row?.restarts ?? 0) >= 1,
        {
          timeoutMs: 20_000,
        },
      )
      const { row, other } = await slotOf('crashy')
      const lines = await logs(other, 'crashy', '--previous')
      const bye = lines.map((l) => /^bye from (\w+)$/.exec(l)?.[1]).find((h) => h !== undefined)
      expect(bye, `previous logs: ${lines.join(' | ')}`).toBeDefined()
      expect(lines).toContain(`hello from ${bye}`)
      // The container that wrote them was replaced: it is kept, stopped, beside a newer one.
      const [previous] = (
        await docker.list({ [LABELS.node]: row!.node!, [LABELS.workload]: 'crashy' })
      ).filter((c) => c.id.startsWith(bye!))
      expect(previous?.state).toBe('exited')
      // Read between a crash and its restart, the previous container is still the slot's own.
      await waitFor('a newer container in the slot than the one whose logs were the previous', async () =>
        (await slotOf('crashy')).row?.containerId !== previous?.id ? true : undefined,
      )

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
  const { code, stdout, stderr } = await gary(['logs', name, ...args, '--json', '--api', daemon.api])
  if (code !== 0) throw new Error(`gary logs ${name} ${args.join(' ')} failed (${code}): ${stderr}`)
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as LogItem)
    .flatMap((item) => ('line' in item ? [item.line] : []))
}

/** Runs the CLI; its exit code, stdout and stderr, whatever the code. */
function gary(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [GARY_BIN, ...args], { env: withoutGarySettings() }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    )
  })
}
