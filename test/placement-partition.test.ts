import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/src/testing/index.js'
import { containersOf, converged, docker, psEverywhere } from './cluster-checks.js'
import { dockerForTests } from './docker-required.js'
import { HOOKS, partition } from './partition-hook.js'

// A partition on one shared Docker engine: the side that sees most of the cluster re-places the
// other side's slots; a node cut off alone keeps its own work and takes nothing; once the
// partition heals, the older replica of each duplicated slot stays.

const NODE_ARGS = ['--runtime', 'docker', '--cpu', '2', '--memory', '2Gi']

const available = await dockerForTests('placement under a partition')

describe.runIf(available)('placement under a partition', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) dirs.push(await DaemonProcess.tempDir())
    const [first, ...rest] = dirs
    const a = await new DaemonProcess({ dataDir: first!, args: NODE_ARGS, testHooks: HOOKS }).start()
    daemons.push(a)
    for (const dir of rest)
      daemons.push(
        await new DaemonProcess({
          dataDir: dir,
          join: [a.joinAddr],
          args: NODE_ARGS,
          testHooks: HOOKS,
        }).start(),
      )
    await waitFor('3 nodes alive everywhere', async () => {
      for (const d of daemons)
        if ((await d.cli<NodeView[]>('nodes')).filter((n) => n.state === 'alive').length !== 3) return false
      return true
    })
  })

  afterAll(async () => {
    await cleanup(daemons, dirs)
    for (const daemon of daemons)
      for (const c of await docker.list({ [LABELS.node]: daemon.peerId }))
        await docker.remove(c.id).catch(() => {})
  })

  it('re-places the cut-off node’s slot on the majority side, and keeps the original after healing', async () => {
    const [a, b, c] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess]
    const specs = await DaemonProcess.tempDir('gary-specs-')
    dirs.push(specs)
    const spec = join(specs, 'web.yaml')
    await writeFile(spec, 'name: web\nimage: gary/busybox:test\ncommand: [sleep, "3600"]\nreplicas: 3\n')
    await a.cli('apply', '-f', spec)
    await converged(daemons, { web: 3 })
    const [original] = (await containersOf([c]))[0]!
    expect(original).toBeDefined()

    // C alone on one side: it sees 1 of the 3 members it saw, a partial view.
    const mark = c.logs.length
    const majorityMarks = [a.logs.length, b.logs.length]
    const cutAt = Date.now()
    await partition(c, [a.peerId, b.peerId])
    await partition(a, [c.peerId])
    await partition(b, [c.peerId])
    await waitFor(
      'A and B to run all three slots between them',
      async () => {
        const running = (await containersOf([a, b])).flat().length
        return running === 3
      },
      { timeoutMs: 20_000 },
    )
    // C kept its container and claimed nothing of the others' work.
    const onC = (await containersOf([c]))[0]!
    expect(onC.map((container) => container.id)).toEqual([original!.id])
    expect(c.logs.slice(mark).filter((line) => line.msg === 'claimed')).toEqual([])

    const replacedAt = Math.max(
      ...[a, b].flatMap((d, i) =>
        d.logs
          .slice(majorityMarks[i])
          .filter((l) => l.msg === 'running')
          .map((l) => l.time),
      ),
    )
    const healMarks = [a.logs.length, b.logs.length]
    const cHealMark = c.logs.length
    const healedAt = Date.now()
    await partition(a, [])
    await partition(b, [])
    await partition(c, [])
    await converged(daemons, { web: 3 })
    const releasedAt = Math.max(
      ...[a, b].flatMap((d, i) =>
        d.logs
          .slice(healMarks[i])
          .filter((l) => l.msg === 'released')
          .map((l) => l.time),
      ),
    )
    console.log(
      `partition: the majority ran the cut-off node's slot ${replacedAt - cutAt} ms after the cut; after healing, the duplicate was released in ${releasedAt - healedAt} ms`,
    )
    // A and B held C dead: the first to hear C again told it so, directly, and C refuted.
    await waitFor('C to refute being held dead', async () =>
      c.logs
        .slice(cHealMark)
        .some(
          (line) =>
            line.msg === 'reported down while up: refuting' &&
            [a.peerId, b.peerId].includes(String(line.witness)),
        ),
    )
    // The duplicated slot went back to C's original container: the older claim wins.
    expect((await containersOf([c]))[0]!.map((container) => container.id)).toEqual([original!.id])
    const rows = (await psEverywhere(daemons))[0]!
    expect(rows.filter((row) => row.node === c.peerId).map((row) => row.containerId)).toEqual([original!.id])
  })
})
