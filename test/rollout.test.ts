import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { HistoryRow } from '../packages/node/src/api/lifecycle-routes.js'
import type { NodeView, WorkloadRow } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
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

// Rollouts end to end: real daemons sharing one Docker engine. `apply --wait` follows a rollout
// and fails with the reason when a new slot fails on probation; the previous revision comes
// back by itself; start-first keeps a published port answering through the update.

const NODE_ARGS = ['--runtime', 'docker', '--cpu', '2', '--memory', '2Gi']
const available = await dockerForTests('rollouts on Docker')
const SLOW_MS = 90_000

/** A web server answering `VERSION` on 8080, ready once it answers. */
const web = (name: string, version: string, extra: string) => `name: ${name}
image: gary/busybox:test
command: [sh, -c, 'mkdir -p /www; echo "$VERSION" > /www/index.html; exec httpd -f -p 8080 -h /www']
env: {VERSION: ${version}}
resources: {cpu: 50m, memory: 16Mi}
${extra}
`

describe.runIf(available)('rollouts on a shared Docker engine', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let files: string

  const apply = async (name: string, text: string, ...flags: string[]) => {
    const path = join(files, `${name}.yaml`)
    await writeFile(path, text)
    return gary(['apply', '-f', path, '--api', daemons[0]!.api, ...flags])
  }

  beforeAll(async () => {
    files = await DaemonProcess.tempDir('gary-specs-')
    dirs.push(files)
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    const first = await new DaemonProcess({ dataDir: dir, args: NODE_ARGS, startTimeoutMs: 60_000 }).start()
    daemons.push(first)
    const second = await DaemonProcess.tempDir()
    dirs.push(second)
    daemons.push(
      await new DaemonProcess({
        dataDir: second,
        join: [first.joinAddr],
        args: NODE_ARGS,
        startTimeoutMs: 60_000,
      }).start(),
    )
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
    'rolls back by itself an update whose containers cannot start, and apply --wait fails naming the reason',
    async () => {
      const update = 'update: {maxUnavailable: 1, monitor: 1s}'
      const good = await apply(
        'app',
        web('app', 'v1', `replicas: 3\n${update}`),
        '--wait',
        '--timeout',
        '60s',
      )
      expect(good.code, good.stderr).toBe(0)
      expect(good.stderr).toContain('app: revision 1 rolled out: 3/3 ready')
      const [before] = await daemons[0]!.cli<WorkloadRow[]>('get')

      // v2 exits at once: its first slot fails on probation.
      const bad = web('app', 'v2', `replicas: 3\n${update}`).replace('exec httpd', 'exit 3; exec httpd')
      const failed = await apply('app', bad, '--wait', '--timeout', '60s')
      expect(failed.code, `apply --wait: ${failed.stdout}`).toBe(1)
      expect(failed.stderr).toContain('rollout failed')
      expect(failed.stderr).toContain('container exited with code 3')

      // The previous spec comes back by itself, on every node, and runs everywhere again.
      await waitFor(
        'every node to declare v1 again and run 3 ready slots of it',
        async () => {
          for (const daemon of daemons) {
            const [row] = await daemon.cli<WorkloadRow[]>('get')
            if (row?.generation !== before!.generation) return false
            const slots = (await daemon.cli<SlotRow[]>('ps')).filter((s) => s.workload === 'app')
            if (slots.length !== 3 || !slots.every((s) => s.generation === before!.generation && s.ready))
              return false
          }
          return true
        },
        { timeoutMs: 45_000, intervalMs: 250 },
      )
      const history = await daemons[1]!.cli<HistoryRow[]>('history', 'app')
      expect(history.map((h) => h.revision)).toEqual([3, 2, 1])
      expect(history[0]!.generation).toBe(before!.generation)
      expect(history[0]!.cause).toMatch(/^rolled back revision 2: app\/\d on .*container exited with code 3/)
    },
    SLOW_MS,
  )

  it(
    'keeps a published port answering through a start-first update of a single replica',
    async () => {
      const port = 20000 + Math.floor(Math.random() * 40000)
      const extra = (order: string) =>
        `replicas: 1
ports: [{container: 8080, published: ${port}}]
health: {http: {path: /, port: 8080}, interval: 300ms, timeout: 1s, retries: 1}
update: {order: ${order}, monitor: 0s}`
      const order = 'start-first'
      const first = await apply('edge', web('edge', 'v1', extra(order)), '--wait', '--timeout', '60s')
      expect(first.code, first.stderr).toBe(0)
      const url = await waitFor('a node to serve the published port', async () => {
        const url = `http://127.0.0.1:${port}/`
        return (await get(url)) === 'v1' ? url : undefined
      })
      // Requests one after another, each on a new connection, through the whole update.
      const results: string[] = []
      let probing = true
      const probe = (async () => {
        while (probing) {
          results.push(await get(url))
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })()
      const second = await apply('edge', web('edge', 'v2', extra(order)), '--wait', '--timeout', '60s')
      expect(second.code, second.stderr).toBe(0)
      // The probe's own requests must reach v2 (under load its loop lags the update's end).
      await waitFor('the probe to get an answer from v2', () => results.includes('v2'))
      probing = false
      await probe
      const failures = results.filter((r) => r !== 'v1' && r !== 'v2')
      expect(results.length).toBeGreaterThan(20)
      expect(new Set(results.filter((r) => failures.indexOf(r) === -1))).toEqual(new Set(['v1', 'v2']))
      expect(failures, `requests that failed during the ${order} update`).toEqual([])
    },
    SLOW_MS,
  )

  it(
    'keeps history: scale and restart are revisions, rollback --to declares an earlier one again',
    async () => {
      const api = ['--api', daemons[1]!.api]
      const sleeper = (version: string) =>
        `name: lc\nimage: gary/busybox:test\ncommand: [sleep, "3600"]\nenv: {V: ${version}}\nreplicas: 1\nupdate: {maxUnavailable: 3, monitor: 0s}\n`
      const wait = ['--wait', '--timeout', '45s']
      expect((await apply('lc', sleeper('v1'), ...wait)).code).toBe(0)
      const [v1] = await daemons[0]!.cli<WorkloadRow[]>('get')

      const scaled = await gary(['scale', 'lc=2', ...wait, ...api])
      expect(scaled.code, scaled.stderr).toBe(0)
      expect(scaled.stdout).toContain(`lc: updated (revision 2, generation ${v1!.generation})`)
      const before = (await daemons[0]!.cli<SlotRow[]>('ps')).map((row) => row.containerId)
      expect(before).toHaveLength(2)

      // A restart: the same spec, fresh containers for every slot.
      const restarted = await gary(['restart', 'lc', ...wait, ...api])
      expect(restarted.code, restarted.stderr).toBe(0)
      expect(restarted.stdout).toContain(`lc: updated (revision 3, generation ${v1!.generation}.1)`)
      const after = await daemons[0]!.cli<SlotRow[]>('ps')
      expect(after.map((row) => row.generation)).toEqual(Array(2).fill(`${v1!.generation}.1`))
      for (const row of after) expect(before).not.toContain(row.containerId)

      const back = await gary(['rollback', 'lc', '--to', '1', ...wait, ...api])
      expect(back.code, back.stderr).toBe(0)
      const history = await daemons[0]!.cli<HistoryRow[]>('history', 'lc')
      expect(history.map((h) => [h.revision, h.cause])).toEqual([
        [4, 'rollback to 1'],
        [3, 'restart'],
        [2, 'scale 2'],
        [1, 'apply'],
      ])
      // Revision 1's containers, at the current scale.
      expect(history[0]!.generation).toBe(v1!.generation)
      expect(history[0]!.replicas).toBe(2)
      const rows = await daemons[1]!.cli<SlotRow[]>('ps')
      expect(rows.map((row) => [row.generation, row.phase])).toEqual(
        Array(2).fill([v1!.generation, 'running']),
      )
    },
    SLOW_MS,
  )

  it(
    'counts host ports as a resource: a second slot binding the port has no node, and ps says why up front',
    async () => {
      // One node takes work: the other drains, so both replicas would land on the same node.
      await gary(['drain', '--api', daemons[1]!.api])
      try {
        const port = 20000 + Math.floor(Math.random() * 40000)
        await apply(
          'hp',
          `name: hp\nimage: gary/busybox:test\ncommand: [sleep, "3600"]\nreplicas: 2\nports: [{container: 8080, host: ${port}}]\n`,
        )
        const rows = await waitFor('one slot of hp running, the other unschedulable', async () => {
          const rows = (await daemons[1]!.cli<SlotRow[]>('ps')).filter((row) => row.workload === 'hp')
          const phases = rows.map((row) => row.phase).sort()
          return phases.join() === 'running,unschedulable' ? rows : undefined
        })
        const stuck = rows.find((row) => row.phase === 'unschedulable')
        expect(stuck?.reasons).toContain(`port ${port}/tcp in use on ${daemons[0]!.peerId}`)
        // Placement knew before any start: the engine never refused a start for the port.
        expect(daemons[0]!.hasLog('container did not start', { workload: 'hp' })).toBe(false)
        expect(daemons[0]!.hasLog('refused slot', { workload: 'hp' })).toBe(false)
      } finally {
        // Undrained while hp is declared, the node would take its second slot while afterEach
        // removes hp: a container created in the claim's settle could outlive the check.
        await daemons[0]!.cli('rm', 'hp').catch(() => undefined)
        await converged(daemons, {})
        await gary(['drain', '--off', '--api', daemons[1]!.api])
      }
    },
    SLOW_MS,
  )
})

/** The body of a GET on a new connection, or `error: ...`. */
function get(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 2000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => {
        body += chunk
      })
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : `error: status ${res.statusCode}`))
      res.on('error', (err) => resolve(`error: ${err.message}`))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (err) => resolve(`error: ${err.message}`))
    req.end()
  })
}

/** Runs the CLI; its exit code, stdout and stderr, whatever the code. */
function gary(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [GARY_BIN, ...args], { env: withoutGarySettings() }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    )
  })
}
