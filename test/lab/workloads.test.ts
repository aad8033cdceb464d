import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { HistoryRow } from '../../packages/node/src/api/lifecycle-routes.js'
import type { NodeView, WorkloadRow } from '../../packages/node/src/api/routes.js'
import type { SlotRow } from '../../packages/node/src/api/slot-rows.js'
import type { LogItem } from '../../packages/node/src/logs/sources.js'
import type { EndpointRow } from '../../packages/node/src/mesh/endpoint-rows.js'
import { LABELS } from '../../packages/node/src/reconcile/container-labels.js'
import { Lab } from '../../packages/node/src/testing/lab.js'
import { waitFor } from '../../packages/node/src/testing/wait.js'
import type { VolumeRow } from '../../packages/node/src/volumes/remove.js'
import { TEST_IMAGE } from '../../packages/runtime/src/test-image.js'

// Running real services on five machines (scripts/lab.sh), one lab for the file: each machine its
// own engine and a Gary daemon at its defaults, plus a cluster key (secrets need one), a secrets
// directory on the machine's own tmpfs, a drain of 5 s, and a label m=I saying which machine it is.
// Machines 1 and 2 also carry edge=yes; machine 1 allows bind mounts under /srv/allowed. Rollouts,
// rollback, history, scale and restart, volumes, bind mounts, secrets, health, previous logs, host
// ports and registry logins, each asked on one machine and checked on the others' engines. Each
// test declares its own workloads and removes them.
const MACHINES = 5
const LOOP = fileURLToPath(new URL('../../scripts/request-loop.mjs', import.meta.url))
const SECRETS_DIR = '/run/gary-secrets'
const ALLOWED = '/srv/allowed'
let lab: Lab
const nodeOf = new Map<number, string>()
const machineOf = (node: string | null) => [...nodeOf].find(([, id]) => id === node)?.[0]
let seed = ''

const argsOf = (i: number) => [
  '--label',
  `m=${i}`,
  ...(i <= 2 ? ['--label', 'edge=yes'] : []),
  ...(i === 1 ? ['--allow-host-path', ALLOWED] : []),
  '--cluster-key',
  '/root/cluster.key',
  '--secrets-dir',
  SECRETS_DIR,
  // A released slot that served a published port runs this long while every machine's mesh
  // stops sending it connections: at load 90 the default 1 s was not enough for one machine to
  // hear the release (a probe's connection was refused by the stopped container).
  '--drain-ms',
  '5000',
  ...(i === 1 ? [] : ['--join', seed]),
]

/** Writes `workload`'s spec on machine `i` and runs `gary apply -f` there with `flags`. */
async function apply(i: number, workload: string, spec: string, ...flags: string[]) {
  const path = await lab.put(i, `${workload}.yaml`, `name: ${workload}\nimage: ${TEST_IMAGE}\n${spec}`)
  return lab.garyExit(i, ['apply', '-f', path, ...flags], 150_000)
}

const ok = (result: { code: number; stdout: string; stderr: string }) => {
  expect(result.code, `gary exited ${result.code}: ${result.stderr}`).toBe(0)
  return result.stdout
}

/** `workload`'s containers on each machine's engine, running or not. */
async function containersOf(workload: string) {
  const lists = await Promise.all(
    lab.machines.map((i) => lab.engine(i).list({ [LABELS.workload]: workload })),
  )
  return lists.flatMap((list, k) => list.map((c) => ({ ...c, machine: k + 1 })))
}
const runningOf = async (workload: string) =>
  (await containersOf(workload)).filter((c) => c.state === 'running')

/** Machine `i`'s rows of `gary ps` for `workload`. */
const slotsOn = async (i: number, workload: string) =>
  (await lab.api<SlotRow[]>(i, '/v1/slots')).filter((row) => row.workload === workload)

/** Waits until every machine lists `replicas` running, ready slots of `workload` at one generation. */
async function allReady(workload: string, replicas: number, generation?: string): Promise<string> {
  let last = ''
  return waitFor(
    `every machine to list ${replicas} ready slots of ${workload}${generation ? ` at ${generation}` : ''}`,
    async () => {
      const seen = new Set<string>()
      for (const i of lab.machines) {
        const rows = await slotsOn(i, workload)
        last = `machine ${i}: ${JSON.stringify(rows.map((r) => [r.slot, r.phase, r.ready, r.generation]))}`
        if (rows.length !== replicas || !rows.every((r) => r.phase === 'running' && r.ready)) return undefined
        for (const r of rows) seen.add(r.generation)
      }
      const [only] = seen
      if (seen.size !== 1 || (generation !== undefined && only !== generation)) return undefined
      if ((await runningOf(workload)).length !== replicas) return undefined
      return only
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen: ${last}`)
  })
}

/** Removes workloads from machine 1 and waits until no machine's engine holds any of their containers. */
async function remove(...workloads: string[]) {
  await lab.gary(1, ['rm', ...workloads])
  await waitFor(
    `${workloads.join(', ')} gone from every engine`,
    async () => {
      for (const w of workloads) if ((await containersOf(w)).length > 0) return false
      return true
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  )
}

/** What a container on machine `i` printed on stdout. */
async function stdoutOf(i: number, id: string): Promise<string[]> {
  const lines: string[] = []
  for await (const line of lab.engine(i).logs(id)) if (line.stream === 'stdout') lines.push(line.line)
  return lines
}

/** The text of every file under `dir` on this host (missing: none). */
async function everyFile(dir: string): Promise<{ path: string; text: string }[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])
  const files: { path: string; text: string }[] = []
  for (const entry of entries) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    files.push({ path, text: (await readFile(path).catch(() => Buffer.alloc(0))).toString('latin1') })
  }
  return files
}

beforeAll(async () => {
  lab = await Lab.up(MACHINES)
  const key = await lab.gary(1, ['keygen'])
  for (const i of lab.machines) {
    await lab.put(i, 'cluster.key', key)
    await lab.exec(i, ['mkdir', '-p', SECRETS_DIR])
  }
  await lab.exec(1, ['mkdir', '-p', `${ALLOWED}/data`])
  await lab.startDaemon(1, argsOf(1))
  seed = (await lab.joinAddrs(1))[0]!
  await Promise.all([2, 3, 4, 5].map((i) => lab.startDaemon(i, argsOf(i))))
  for (const i of lab.machines) nodeOf.set(i, await lab.nodeId(i))
  await waitFor(
    'every machine to list all five alive',
    async () => {
      for (const i of lab.machines) {
        const view = await lab.api<NodeView[]>(i, '/v1/nodes')
        if (view.length !== MACHINES || view.some((node) => node.state !== 'alive')) return false
      }
      return true
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  )
}, 300_000)

afterAll(async () => {
  await lab?.down()
}, 120_000)

/** A web server answering `VERSION slot N on HOST` on 8080, ready once it answers. */
const web = (version: string, extra: string) =>
  `command: [sh, -c, 'mkdir -p /www; echo "$VERSION slot $GARY_SLOT on $(hostname)" > /www/index.html; exec httpd -f -p 8080 -h /www']
env: {VERSION: ${version}}
resources: {cpu: 50m, memory: 16Mi}
health: {http: {path: /, port: 8080}, interval: 300ms, timeout: 2s, retries: 3}
${extra}
`
const sleeper = (extra: string) =>
  `command: [sh, -c, 'echo started; exec sleep 3600']\nresources: {cpu: 50m, memory: 16Mi}\n${extra}\n`

describe('real services on five machines', () => {
  it('rolls back by itself an update whose containers cannot start, on every machine, and apply --wait fails naming the reason', async () => {
    const extra = 'replicas: 3\nupdate: {maxUnavailable: 1, monitor: 1s}'
    const good = await apply(2, 'app', web('v1', extra), '--wait', '--timeout', '90s')
    expect(good.stderr).toContain('app: revision 1 rolled out: 3/3 ready')
    ok(good)
    const v1 = await allReady('app', 3)
    // v2 exits at once: its first new slot fails on probation.
    const bad = web('v2', extra).replace('exec httpd', 'exit 3; exec httpd')
    const failed = await apply(2, 'app', bad, '--wait', '--timeout', '90s')
    expect(failed.code, `apply --wait: ${failed.stdout} ${failed.stderr}`).toBe(1)
    expect(failed.stderr).toContain('rollout failed')
    expect(failed.stderr).toContain('container exited with code 3')
    // Revision 1 comes back by itself: every machine declares it, and the engines run it.
    await waitFor(
      'every machine to declare revision 1 of app again',
      async () => {
        for (const i of lab.machines) {
          const [row] = await lab.garyJson<WorkloadRow[]>(i, 'get')
          if (row?.generation !== v1) return false
        }
        return true
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    )
    await allReady('app', 3, v1)
    const running = await runningOf('app')
    expect(running.map((c) => c.labels[LABELS.generation])).toEqual([v1, v1, v1])
    const history = await lab.garyJson<HistoryRow[]>(4, 'history', 'app')
    expect(history.map((h) => h.revision)).toEqual([3, 2, 1])
    expect(history[0]!.generation).toBe(v1)
    expect(history[0]!.cause).toMatch(/^rolled back revision 2: app\/\d on .*container exited with code 3/)
    await remove('app')
  }, 240_000)

  it('keeps every slot serving through a start-first update: a probe from another machine never fails', async () => {
    const extra =
      'replicas: 2\nports: [{container: 8080, published: 8000}]\nupdate: {order: start-first, maxUnavailable: 2, monitor: 0s}'
    ok(await apply(1, 'edge', web('v1', extra), '--wait', '--timeout', '90s'))
    await allReady('edge', 2)
    // The probe runs on a machine that holds no slot, through another machine's address.
    const holders = new Set((await slotsOn(1, 'edge')).map((r) => machineOf(r.node)))
    const prober = lab.machines.find((i) => !holders.has(i))!
    const target = lab.machines.find((i) => i !== prober)!
    const url = `http://${lab.address(target)}:8000/`
    const readyBehind = async () =>
      (await lab.api<EndpointRow[]>(prober, '/v1/endpoints')).find((row) => row.workload === 'edge')?.slots
        .length ?? 0
    await waitFor('2 slots behind the published port', async () => (await readyBehind()) === 2, {
      timeoutMs: 30_000,
      intervalMs: 250,
    })
    const stop = join(lab.rootDir(prober), 'stop-probe')
    const probe = lab
      .exec(prober, ['node', LOOP, url, '180000', '2000', '20', '/root/stop-probe'], 240_000)
      .then((out) => JSON.parse(out) as { results: [number, boolean, number, string][] })
    // Every machine's view of the slots behind the port, from the prober, through the update.
    let fewest = Number.POSITIVE_INFINITY
    let watching = true
    const watch = (async () => {
      while (watching) {
        fewest = Math.min(fewest, await readyBehind().catch(() => fewest))
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    try {
      ok(await apply(3, 'edge', web('v2', extra), '--wait', '--timeout', '90s'))
      await waitFor(
        'the prober to be answered by v2',
        async () =>
          (await lab.exec(prober, ['curl', '-sS', '--max-time', '3', url]).catch(() => '')).startsWith('v2 '),
        { timeoutMs: 30_000, intervalMs: 200 },
      )
    } finally {
      watching = false
      await watch
      await writeFile(stop, '')
    }
    const { results } = await probe
    const failures = results.filter(([, good]) => !good)
    expect(failures, 'requests that failed during the start-first update').toEqual([])
    expect(results.length).toBeGreaterThan(20)
    expect(new Set(results.map(([, , , text]) => text.split(' ')[0]))).toEqual(new Set(['v1', 'v2']))
    expect(fewest, 'ready slots behind the port at the worst poll of the update').toBe(2)
    await remove('edge')
  }, 240_000)

  it('keeps history: scale and restart from one machine, history and rollback --to from others', async () => {
    const wait = ['--wait', '--timeout', '90s']
    ok(
      await apply(
        1,
        'lc',
        sleeper('env: {V: v1}\nreplicas: 1\nupdate: {maxUnavailable: 3, monitor: 0s}'),
        ...wait,
      ),
    )
    const v1 = await allReady('lc', 1)
    expect(ok(await lab.garyExit(2, ['scale', 'lc=3', ...wait], 120_000))).toContain(
      `lc: updated (revision 2, generation ${v1})`,
    )
    await allReady('lc', 3, v1)
    const before = (await runningOf('lc')).map((c) => c.id)
    // A restart: the same spec, a fresh container for every slot, wherever it runs.
    expect(ok(await lab.garyExit(3, ['restart', 'lc', ...wait], 120_000))).toContain(
      `lc: updated (revision 3, generation ${v1}.1)`,
    )
    await allReady('lc', 3, `${v1}.1`)
    for (const c of await runningOf('lc')) expect(before).not.toContain(c.id)
    ok(await lab.garyExit(5, ['rollback', 'lc', '--to', '1', ...wait], 120_000))
    const history = await lab.garyJson<HistoryRow[]>(4, 'history', 'lc')
    expect(history.map((h) => [h.revision, h.cause])).toEqual([
      [4, 'rollback to 1'],
      [3, 'restart'],
      [2, 'scale 3'],
      [1, 'apply'],
    ])
    // Revision 1's containers, at the current scale.
    expect(history[0]!.generation).toBe(v1)
    expect(history[0]!.replicas).toBe(3)
    await allReady('lc', 3, v1)
    expect((await runningOf('lc')).map((c) => c.labels[LABELS.generation])).toEqual([v1, v1, v1])
    await remove('lc')
  }, 240_000)

  it("keeps a named volume's data on its machine across a new container and a daemon restart; a moved slot starts empty", async () => {
    const db = (machine: number) =>
      `constraints: {m: "${machine}"}
volumes: [{name: data, target: /var/lib/db}]
resources: {cpu: 50m, memory: 16Mi}
command: [sh, -c, '[ -f /var/lib/db/token ] || echo "written by $HOSTNAME" > /var/lib/db/token; echo "token $(cat /var/lib/db/token)"; echo "this is $HOSTNAME"; exec sleep 3600']
`
    /** The one running db container on machine `i`, once it has said its token and its name. */
    const dbRun = (i: number, label: string, not?: string) =>
      waitFor(
        label,
        async () => {
          const [c] = (await lab.engine(i).list({ [LABELS.workload]: 'db' })).filter(
            (c) => c.state === 'running' && c.id !== not,
          )
          if (c === undefined) return undefined
          const lines = await stdoutOf(i, c.id)
          const token = lines.find((l) => l.startsWith('token '))
          const self = lines.find((l) => l.startsWith('this is '))
          return token === undefined || self === undefined ? undefined : { id: c.id, token, self }
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      )
    ok(await apply(2, 'db', db(3)))
    const first = await dbRun(3, 'the first db container on machine 3 to write its token')
    expect(first.token).toBe(`token written by ${first.self.slice('this is '.length)}`)

    // A new container (the first removed behind the daemon's back): same volume, same token.
    await lab.engine(3).remove(first.id)
    const second = await dbRun(3, 'a new db container on machine 3', first.id)
    expect(second.self).not.toBe(first.self)
    expect(second.token, 'the new container reads the first one’s token').toBe(first.token)

    // The daemon dies; its container is removed while it is down; the restarted daemon's new
    // container finds the data.
    await lab.killDaemon(3)
    await lab.engine(3).remove(second.id)
    await lab.startDaemon(3, argsOf(3))
    const third = await dbRun(3, 'a db container after machine 3’s daemon restarted', second.id)
    expect(third.self).not.toBe(second.self)
    expect(third.token, 'the token survives the daemon restart').toBe(first.token)

    // The data is the machine's: a slot moved to machine 4 starts with an empty volume there,
    // and machine 3 keeps its own, unused, until it is removed by hand.
    ok(await apply(2, 'db', db(4)))
    const moved = await dbRun(4, 'the db slot to run on machine 4')
    expect(moved.token).toBe(`token written by ${moved.self.slice('this is '.length)}`)
    expect(moved.token).not.toBe(first.token)
    const volumes = await waitFor(
      'gary volume ls on machine 5 to show both machines’ volumes, 3’s unused',
      async () => {
        const rows = await lab.garyJson<VolumeRow[]>(5, 'volume', 'ls')
        const on = (i: number) => rows.find((r) => r.node === nodeOf.get(i))
        return rows.length === 2 && on(3)?.inUse === false && on(4)?.inUse === true ? rows : undefined
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    )
    expect(volumes.map((v) => `${v.workload}/${v.slot}/${v.name}`)).toEqual(['db/0/data', 'db/0/data'])
    // Asked on any machine, a removal of a volume in use removes nothing, anywhere.
    const busy = await lab.garyExit(5, ['volume', 'rm', 'db'])
    expect(busy.code).not.toBe(0)
    expect(busy.stderr).toMatch(/volume db\/0\/data is in use by a container on m4 .*nothing removed/)
    await remove('db')
    await waitFor(
      'machines 3 and 4 to publish their volumes unused',
      async () => (await lab.garyJson<VolumeRow[]>(1, 'volume', 'ls')).every((r) => !r.inUse),
      { timeoutMs: 30_000, intervalMs: 500 },
    )
    const removed = await lab.garyJson<{ removed: { node: string }[] }>(1, 'volume', 'rm', 'db/0/data')
    expect(removed.removed.map((r) => machineOf(r.node)).sort()).toEqual([3, 4])
  }, 240_000)

  it('refuses a bind mount outside the allowed prefixes with the reason, and starts nothing anywhere', async () => {
    ok(
      await apply(
        5,
        'outside',
        sleeper(`replicas: 2\nvolumes: [{source: /etc, target: /x, readOnly: true}]`),
      ),
    )
    const rows = await waitFor(
      'both slots of outside unschedulable on every machine',
      async () => {
        for (const i of lab.machines) {
          const rows = await slotsOn(i, 'outside')
          if (rows.length !== 2 || rows.some((r) => r.phase !== 'unschedulable')) return undefined
        }
        return slotsOn(2, 'outside')
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    )
    const every = [...nodeOf.values()].sort().join(', ')
    for (const row of rows) expect(row.reasons).toEqual([`host path /etc not allowed on ${every}`])
    expect(await lab.gary(3, ['ps', 'outside'])).toContain('host path /etc not allowed on')
    expect(await containersOf('outside')).toEqual([])
    // Under machine 1's prefix it runs, there alone (spreading would put one slot elsewhere).
    ok(
      await apply(
        5,
        'inside',
        sleeper(`replicas: 2\nvolumes: [{source: ${ALLOWED}/data, target: /x, readOnly: true}]`),
      ),
    )
    await allReady('inside', 2)
    expect((await runningOf('inside')).map((c) => c.machine)).toEqual([1, 1])
    expect(await containersOf('outside')).toEqual([])
    await remove('outside', 'inside')
  }, 120_000)

  it("puts a secret's value in the container's file and nowhere else: not the API, the logs, any data dir or any engine's env", async () => {
    const value = `s3cret-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`
    // Its file is on machine 1's /run, a tmpfs: the grep of the disks below must not find the test's own copy.
    await lab.exec(1, ['sh', '-c', `umask 077; printf %s '${value}' > /run/db-pass`])
    ok(await lab.garyExit(1, ['secret', 'create', 'db-pass', '-f', '/run/db-pass']))
    await lab.exec(1, ['rm', '/run/db-pass'])
    ok(await apply(2, 'vault', sleeper('replicas: 5\nenv: {PLAIN: visible-value}\nsecrets: [db-pass]')))
    await allReady('vault', 5)
    const running = await runningOf('vault')
    expect(new Set(running.map((c) => c.machine)).size, 'machines running vault').toBeGreaterThan(1)
    for (const c of running)
      expect(await lab.exec(c.machine, ['docker', 'exec', c.id, 'cat', '/run/secrets/db-pass'])).toBe(value)

    const answers = await Promise.all([
      lab.gary(3, ['inspect', 'vault', '--json']),
      lab.gary(4, ['get', '--json']),
      lab.gary(5, ['ps', 'vault', '--json']),
      lab.gary(5, ['logs', 'vault']),
      lab.gary(1, ['events', '--json']),
      lab.gary(2, ['secret', 'ls', '--json']),
    ])
    expect(answers[0]).toContain('visible-value')
    expect(answers[0]).toContain('db-pass')
    const logs = await Promise.all(lab.machines.map(async (i) => JSON.stringify(await lab.logs(i))))
    // Every file of every machine's home (its data dir in it) and of its engine's containers.
    const disks = (
      await Promise.all(
        lab.machines.flatMap((i) => [
          everyFile(lab.rootDir(i)),
          everyFile(join(lab.rootDir(i), '..', 'docker', 'containers')),
        ]),
      )
    ).flat()
    expect(disks.some((f) => f.path.includes('/.gary/') && f.text.includes('@secret/db-pass'))).toBe(true)
    const engine = await Promise.all(
      running.map((c) => lab.engine(c.machine).docker.getContainer(c.id).inspect()),
    )
    for (const details of engine) expect(details.Config.Env).toContain('PLAIN=visible-value')
    const base64 = Buffer.from(value).toString('base64')
    for (const [what, text] of [
      ...answers.map((a, k) => [`answer ${k}`, a] as const),
      ...logs.map((l, k) => [`machine ${k + 1}'s daemon log`, l] as const),
      ...disks.map((f) => [f.path, f.text] as const),
      ...engine.map((d) => [`docker inspect ${d.Id}`, JSON.stringify(d)] as const),
    ]) {
      expect(text.includes(value), `the value in ${what}`).toBe(false)
      expect(text.includes(base64), `the value in base64 in ${what}`).toBe(false)
    }
    await remove('vault')
    ok(await lab.garyExit(3, ['secret', 'rm', 'db-pass']))
  }, 180_000)

  it('restarts an unhealthy container: another machine sees it restarting, then running in a new container', async () => {
    // Healthy for 2 s, then its check fails: two failures in a row make it unhealthy.
    ok(
      await apply(
        1,
        'sick',
        `constraints: {m: "2"}
command: [sh, -c, 'echo yes > /tmp/ok; sleep 2; : > /tmp/ok; exec sleep 3600']
health: {command: [sh, -c, 'test -s /tmp/ok'], interval: 300ms, timeout: 1s, retries: 2}
restart: {policy: always, maxRetries: 20}
`,
      ),
    )
    const row = async () => (await slotsOn(5, 'sick'))[0]
    const first = await waitFor(
      'sick to run ready, seen from machine 5',
      async () => {
        const r = await row()
        return r?.phase === 'running' && r.ready ? r : undefined
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    )
    const restarting = await waitFor(
      'machine 5 to show sick restarting for its failed health check',
      async () => {
        const r = await row()
        return r?.phase === 'restarting' && r.lastExit === 'unhealthy' ? r : undefined
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    )
    expect(restarting.ready).toBe(false)
    const again = await waitFor(
      'sick to run ready again in a new container',
      async () => {
        const r = await row()
        return r?.phase === 'running' && r.ready && (r.restarts ?? 0) >= 1 ? r : undefined
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    )
    expect(again.containerId).not.toBe(first.containerId)
    expect(machineOf(again.node)).toBe(2)
    const onTwo = await lab.engine(2).list({ [LABELS.workload]: 'sick' })
    expect(onTwo.find((c) => c.id === first.containerId)?.state ?? 'removed').not.toBe('running')
    // The new container is machine 2's (it turns unhealthy in its turn 2 s after it starts).
    expect(onTwo.map((c) => c.id)).toContain(again.containerId)
    await waitFor(
      'the restart count to grow past 1 as it turns unhealthy again',
      async () => ((await row())?.restarts ?? 0) >= 2,
      { timeoutMs: 30_000, intervalMs: 200 },
    )
    await remove('sick')
  }, 120_000)

  it("gary logs --previous on machine 1 shows a crashed container's output after machine 4 replaced it", async () => {
    ok(
      await apply(
        2,
        'crashy',
        `constraints: {m: "4"}
command: [sh, -c, 'echo "hello from $(hostname)"; sleep 1; echo "bye from $(hostname)"; exit 4']
restart: {policy: always, maxRetries: 20}
`,
      ),
    )
    await waitFor(
      'crashy to be restarted, seen from machine 1',
      async () => ((await slotsOn(1, 'crashy'))[0]?.restarts ?? 0) >= 1,
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    )
    const lines = (await lab.gary(1, ['logs', 'crashy', '--previous', '--json']))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as LogItem)
      .flatMap((item) => ('line' in item ? [item.line] : []))
    const bye = lines.map((l) => /^bye from (\w+)$/.exec(l)?.[1]).find((h) => h !== undefined)
    expect(bye, `previous logs: ${lines.join(' | ')}`).toBeDefined()
    expect(lines).toContain(`hello from ${bye}`)
    // The container that wrote them is machine 4's, stopped, and the slot has a newer one.
    const [previous] = (await lab.engine(4).list({ [LABELS.workload]: 'crashy' })).filter((c) =>
      c.id.startsWith(bye!),
    )
    expect(previous?.state).toBe('exited')
    await waitFor(
      'a newer container in the slot than the previous one',
      async () => (await slotsOn(1, 'crashy'))[0]?.containerId !== previous?.id,
    )
    await remove('crashy')
  }, 120_000)

  it('counts host ports as a resource: the second slot binding a port goes to another machine, the third has none and ps says why', async () => {
    ok(
      await apply(
        3,
        'hp',
        sleeper('replicas: 3\nconstraints: {edge: "yes"}\nports: [{container: 8080, host: 18080}]'),
      ),
    )
    const rows = await waitFor(
      'two slots of hp running, the third unschedulable, as machine 4 sees it',
      async () => {
        const rows = await slotsOn(4, 'hp')
        const phases = rows.map((row) => row.phase).sort()
        return phases.join() === 'running,running,unschedulable' ? rows : undefined
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    )
    const edges = [nodeOf.get(1)!, nodeOf.get(2)!].sort().join(', ')
    expect(rows.find((row) => row.phase === 'unschedulable')?.reasons).toEqual([
      `port 18080/tcp in use on ${edges}`,
    ])
    expect((await runningOf('hp')).map((c) => c.machine).sort()).toEqual([1, 2])
    // Placement knew before any start: no engine refused a start for the port.
    for (const i of [1, 2])
      expect(
        (await lab.logs(i)).filter((l) => l.workload === 'hp' && /did not start|refused slot/.test(l.msg)),
      ).toEqual([])
    expect(await lab.gary(5, ['ps', 'hp'])).toContain(`port 18080/tcp in use on`)
    await remove('hp')
  }, 120_000)

  it('pulls with a login made on another machine, and says when the registry refuses for credentials', async () => {
    // A registry on machine 3's loopback (its engine pulls from 127.0.0.1 over plain HTTP).
    await lab.put(3, 'registry.mjs', FAKE_REGISTRY)
    await lab.exec(3, [
      'sh',
      '-c',
      'setsid node /root/registry.mjs 5000 >/root/registry.log 2>&1 </dev/null &',
    ])
    const seen = async () =>
      (await readFile(join(lab.rootDir(3), 'registry.log'), 'utf8').catch(() => '')).split('\n')
    await waitFor('the registry on machine 3 to listen', async () => (await seen()).includes('listening'))
    const spec = await lab.put(
      1,
      'private.yaml',
      'name: private\nimage: 127.0.0.1:5000/private/app:1\nconstraints: {m: "3"}\n',
    )
    ok(await lab.garyExit(1, ['apply', '-f', spec]))
    const refused = await waitFor(
      'machine 5 to say the pull was refused for credentials',
      async () => {
        const reasons = ((await slotsOn(5, 'private'))[0]?.reasons ?? []).join('\n')
        return /refused the credentials/.test(reasons) ? reasons : undefined
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    )
    expect(refused).toContain('run gary login 127.0.0.1:5000')
    expect((await seen()).filter((l) => l.startsWith('auth '))).toEqual([])
    // The login, on machine 1, reaches machine 3's pulls.
    const login = await lab.exec(1, [
      'sh',
      '-c',
      `printf 'pa55word\\n' | node ${join(fileURLToPath(new URL('../../', import.meta.url)), 'packages/node/bin/gary.js')} login 127.0.0.1:5000 -u robot --password-stdin`,
    ])
    expect(login).toContain('127.0.0.1:5000')
    const basic = `auth Basic ${Buffer.from('robot:pa55word').toString('base64')}`
    await waitFor(
      'machine 3’s engine to send the login to the registry',
      async () => (await seen()).includes(basic),
      {
        timeoutMs: 60_000,
        intervalMs: 250,
      },
    )
    expect(await lab.gary(2, ['secret', 'ls'])).toContain('127.0.0.1:5000')
    for (const i of lab.machines) expect(JSON.stringify(await lab.logs(i))).not.toContain('pa55word')
    expect(ok(await lab.garyExit(4, ['logout', '127.0.0.1:5000']))).toContain('login deleted')
    expect(await lab.gary(4, ['secret', 'ls'])).not.toContain('127.0.0.1:5000')
    await lab.gary(1, ['rm', 'private'])
  }, 180_000)
})

/**
 * Enough of a registry for an engine to report a refused login: every request without the right
 * Basic credentials gets 401 and a Basic challenge; with them, 404 (no such manifest). Prints
 * `listening`, then `auth HEADER` for each request that carries credentials.
 */
const FAKE_REGISTRY = `import { createServer } from 'node:http'
const expected = 'Basic ' + Buffer.from('robot:pa55word').toString('base64')
createServer((req, res) => {
  if (req.headers.authorization) console.log('auth ' + req.headers.authorization)
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0')
  res.setHeader('Content-Type', 'application/json')
  if (req.headers.authorization !== expected) {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="gary-test"' })
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }))
    return
  }
  res.writeHead(req.url === '/v2/' ? 200 : 404)
  res.end(req.url === '/v2/' ? '{}' : JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }))
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'))
`
