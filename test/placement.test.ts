import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { NodeView, WorkloadRow } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/src/testing/index.js'
import { allContainersOf, containersOf, converged, docker, psEverywhere } from './cluster-checks.js'
import { dockerForTests } from './docker-required.js'

// Placement end to end: real daemons, one real Docker engine shared by all of them, each node
// touching only the containers labelled with its own id.

const NODE_ARGS = ['--runtime', 'docker', '--cpu', '2', '--memory', '2Gi']
// `sleep` runs under the engine's init, so SIGTERM ends it at once and releases are quick.
const spec = (name: string, extra: string) =>
  `name: ${name}\nimage: gary/busybox:test\ncommand: [sleep, "3600"]\n${extra}\n`

const available = await dockerForTests('placement on Docker')
/** For tests that wait for several convergences or a node's start: each wait has its own deadline. */
const SLOW_MS = 150_000

describe.runIf(available)('placement on a shared Docker engine', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let files: string

  const addNode = async (join: string[] = [], dataDir?: string) => {
    const dir = dataDir ?? (await DaemonProcess.tempDir())
    if (dataDir === undefined) dirs.push(dir)
    const daemon = await new DaemonProcess({ dataDir: dir, join, args: NODE_ARGS }).start()
    return daemon
  }
  const live = () => daemons.filter((d) => d.running)
  const apply = async (name: string, text: string) => {
    const path = join(files, `${name}.yaml`)
    await writeFile(path, text)
    return live()[0]!.cli<{ name: string; outcome: string }[]>('apply', '-f', path)
  }
  const remove = (name: string) => live()[0]!.cli('rm', name)
  const allAlive = (expected: number) =>
    waitFor(`${expected} nodes alive everywhere`, async () => {
      for (const d of live()) {
        const nodes = await d.cli<NodeView[]>('nodes')
        if (nodes.filter((n) => n.state === 'alive').length !== expected) return false
      }
      return true
    })
  /**
   * The live node running the most containers, of those started with a join address: the first
   * node has none, and restarted on a new port, nobody would find it again.
   */
  const busiest = async () => {
    const joined = live().filter((d) => (d.options.join ?? []).length > 0)
    const counts = (await containersOf(joined)).map((list) => list.length)
    return joined[counts.indexOf(Math.max(...counts))]!
  }

  beforeAll(async () => {
    files = await DaemonProcess.tempDir('gary-specs-')
    dirs.push(files)
    const first = await addNode()
    daemons.push(first)
    for (let i = 0; i < 2; i++) daemons.push(await addNode([first.joinAddr]))
    await allAlive(3)
  })

  // Each test declares its own workloads and starts from an empty cluster of live nodes: what
  // one test leaves (a workload, a stopped node) is removed here, so none depends on another.
  afterEach(async () => {
    for (const row of await live()[0]!.cli<WorkloadRow[]>('get')) await remove(row.name)
    await converged(live(), {})
  })

  afterAll(async () => {
    await cleanup(daemons, dirs)
    for (const daemon of daemons) {
      for (const container of await docker.list({ [LABELS.node]: daemon.peerId }))
        await docker.remove(container.id).catch(() => {})
    }
  })

  it(
    'runs exactly the declared replicas, spread over the nodes, through scale up, down and rm',
    async () => {
      const spread = async (replicas: number) => {
        const perNode = (await containersOf(live())).map((list) => list.length)
        expect(perNode.reduce((a, b) => a + b, 0)).toBe(replicas)
        expect(Math.max(...perNode) - Math.min(...perNode), `spread ${perNode}`).toBeLessThanOrEqual(1)
      }
      await apply('web', spec('web', 'replicas: 5'))
      await converged(live(), { web: 5 })
      await spread(5)

      await apply('web', spec('web', 'replicas: 8'))
      await converged(live(), { web: 8 })
      await spread(8)
      await apply('web', spec('web', 'replicas: 2'))
      await converged(live(), { web: 2 })
      const kept = (await psEverywhere(live()))[0]!.map((row) => row.slot)
      expect(kept).toEqual([0, 1])

      await remove('web')
      await converged(live(), {})
    },
    SLOW_MS,
  )

  it('marks a slot ready only once its health check passes, and restarts one whose check fails', async () => {
    // Three checks of 2 s may fail before one is unhealthy: a loaded host (CI at load 30) timed
    // out one check of `true` within 1 s, and good was restarted too.
    const health = (command: string) =>
      `health:\n  command: ${command}\n  interval: 200ms\n  timeout: 2s\n  retries: 3`
    await apply(
      'checks',
      `${spec('good', `replicas: 2\n${health('["true"]')}`)}---\n${spec('bad', `replicas: 2\n${health('["false"]')}\nrestart: {policy: always, maxRetries: 100}`)}`,
    )
    // The engine's verdicts first: a check has run on every container of good, and passed.
    await waitFor('the engine to find good healthy', async () => {
      const all = (await allContainersOf(live())).flat()
      const good = all.filter((c) => c.labels[LABELS.workload] === 'good' && c.state === 'running')
      return good.length === 2 && good.every((c) => c.health === 'healthy')
    })
    // bad's check fails: each of its containers is restarted for it, and it is never ready.
    await waitFor('good ready, and bad restarting for its failed check, on every node', async () => {
      // Each unmet condition throws what it saw: a timeout names it.
      const seen = (rows: SlotRow[]) =>
        JSON.stringify(rows.map((r) => [r.workload, r.slot, r.phase, r.ready, r.lastExit, r.restarts]))
      for (const rows of await psEverywhere(live())) {
        const good = rows.filter((row) => row.workload === 'good' && row.phase === 'running')
        const bad = rows.filter((row) => row.workload === 'bad' && row.node !== null)
        if (good.length !== 2 || !good.every((row) => row.ready))
          throw new Error(`good not running and ready twice: ${seen(rows)}`)
        if (bad.length !== 2 || bad.some((row) => row.ready))
          throw new Error(`bad shown ready: ${seen(rows)}`)
        if (!bad.every((row) => row.lastExit === 'unhealthy' && (row.restarts ?? 0) >= 1))
          throw new Error(`bad not restarted for its check: ${seen(rows)}`)
      }
      return true
    })
  })

  it('reports a missing image as every node refusing it, and keeps running', async () => {
    const nodes = live().length
    await apply('ghost', `name: ghost\nimage: gary/missing:1\nreplicas: 2\n`)
    const rows = await waitFor('every node to refuse the missing image', async () => {
      const views = await psEverywhere(live())
      const stuck = views[0]!.filter((row) => row.workload === 'ghost' && row.phase === 'unschedulable')
      const reasons = stuck[0]?.reasons?.join(' ') ?? ''
      const everyNode = live().every((d) => reasons.includes(d.peerId))
      return stuck.length === 2 && everyNode ? stuck : undefined
    })
    expect(rows[0]!.reasons!.join(' ')).toMatch(/refused: image gary\/missing:1 not found on/)
    expect(live()).toHaveLength(nodes)
  })

  it(
    'reports what does not fit, and places it when a node with room joins',
    async () => {
      // One slot of 1500m per node of 2 cpu, and one more than there are nodes.
      const replicas = live().length + 1
      await apply('big', spec('big', `replicas: ${replicas}\nresources:\n  cpu: 1500m\n  memory: 64Mi`))
      const stuck = await waitFor('one slot to be unschedulable', async () => {
        const rows = (await psEverywhere(live()))[0]!
        const running = rows.filter((row) => row.phase === 'running').length
        const unschedulable = rows.filter((row) => row.phase === 'unschedulable')
        return running === replicas - 1 && unschedulable.length === 1 ? unschedulable[0] : undefined
      })
      expect(stuck.reasons).toContain('no node has 1500m cpu free')

      daemons.push(await addNode([daemons[0]!.joinAddr]))
      await converged(live(), { big: replicas })
    },
    SLOW_MS,
  )

  it(
    'runs a global workload once on every node, including one that joins later',
    async () => {
      const nodes = live().length
      await apply('agent', spec('agent', 'mode: global\nresources:\n  cpu: 50m\n  memory: 16Mi'))
      await converged(live(), { agent: nodes })
      const holders = (await psEverywhere(live()))[0]!.map((row) => row.node)
      expect(new Set(holders).size).toBe(nodes)

      daemons.push(await addNode([daemons[0]!.joinAddr]))
      expect(live()).toHaveLength(nodes + 1)
      await converged(live(), { agent: nodes + 1 })
    },
    SLOW_MS,
  )

  it('removes a container of its label that no promise accounts for, whatever its state', async () => {
    const target = live()[0]!
    const leaked = await docker.create({
      name: `gary-test-leaked-${target.peerId.slice(-8)}`,
      image: 'gary/busybox:test',
      command: ['sleep', '3600'],
      labels: { [LABELS.node]: target.peerId },
    })
    // `converged` holds only once no container of a node's label is left, in any state.
    await converged(live(), {})
    expect(target.hasLog('removing a container no promise accounts for', { name: leaked.name })).toBe(true)
  })

  it(
    're-adopts its running containers when only the daemon restarts',
    async () => {
      await apply('adopted', spec('adopted', 'replicas: 5'))
      await converged(live(), { adopted: 5 })
      const target = await busiest()
      const before = (await docker.list({ [LABELS.node]: target.peerId })).map((c) => c.id).sort()
      expect(before.length).toBeGreaterThan(0)

      await target.kill('SIGKILL')
      await target.start()
      await converged(live(), { adopted: 5 })
      const after = (await docker.list({ [LABELS.node]: target.peerId })).map((c) => c.id).sort()
      expect(after).toEqual(before)
      expect(target.hasLog('adopted a running container')).toBe(true)
    },
    SLOW_MS,
  )

  it(
    'runs a lost machine’s slots elsewhere',
    async () => {
      await apply('moved', spec('moved', 'replicas: 5'))
      await converged(live(), { moved: 5 })
      const victim = await busiest()
      const lost = (await docker.list({ [LABELS.node]: victim.peerId })).length
      expect(lost).toBeGreaterThan(0)
      const startedAt = Date.now()
      await victim.kill('SIGKILL')
      for (const container of await docker.list({ [LABELS.node]: victim.peerId }))
        await docker.remove(container.id)
      await converged(live(), { moved: 5 })
      // Timed by the daemons' own log lines: polling the CLI would add its start-up to the figure.
      const replacedAt = Math.max(
        ...live().flatMap((d) =>
          d.logs
            .filter((l) => l.msg === 'running' && (l.time as number) >= startedAt)
            .map((l) => l.time as number),
        ),
      )
      console.log(`failover of ${lost} slot(s) after a process crash: ${replacedAt - startedAt} ms`)
      const rows: SlotRow[] = (await psEverywhere(live()))[0]!
      expect(rows.some((row) => row.node === victim.peerId)).toBe(false)

      // Back, with an empty engine, for the tests after this one.
      await victim.start()
      await allAlive(live().length)
    },
    SLOW_MS,
  )

  it(
    'drains a node from another node: its slots move to the others, the drain outlasts its restart, then it takes work again',
    async () => {
      await apply('drained', spec('drained', 'replicas: 5'))
      await converged(live(), { drained: 5 })
      const target = await busiest()
      const other = live().find((d) => d !== target)!
      // Named by the end of its id, as `gary nodes` shows it.
      expect(await other.cli('drain', target.peerId.slice(-8))).toMatchObject({
        node: target.peerId,
        draining: true,
        changed: true,
      })
      await waitFor('the drained node to hand every slot over', async () =>
        (await docker.list({ [LABELS.node]: target.peerId })).length === 0 ? true : undefined,
      )
      await converged(live(), { drained: 5 })
      const drainingSeen = async (by: DaemonProcess) =>
        (await by.cli<NodeView[]>('nodes')).find((node) => node.id === target.peerId)?.draining
      expect(await drainingSeen(other)).toBe(true)

      // The drain is a declaration: the node reads it back from its data dir when it restarts.
      await target.kill('SIGTERM')
      await target.start()
      await allAlive(live().length)
      expect(await drainingSeen(target)).toBe(true)
      expect(await docker.list({ [LABELS.node]: target.peerId })).toStrictEqual([])
      expect(await target.cli('drain', '--off')).toMatchObject({ draining: false, changed: true })
      await apply('more', spec('more', 'mode: global\nresources:\n  cpu: 50m\n  memory: 16Mi'))
      await converged(live(), { drained: 5, more: live().length })
    },
    SLOW_MS,
  )
})
