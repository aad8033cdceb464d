import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeView, WorkloadRow } from '../packages/node/src/api/routes.js'
import { cleanup, DaemonProcess, runCli, waitFor } from '../packages/node/src/testing/index.js'
import { HOOKS, partition } from './partition-hook.js'

const spec = (name: string, image: string, extra = '') =>
  `name: ${name}\nimage: ${image}\nreplicas: 2\n${extra}`

/** What a node holds, as `gary get --json` prints it. */
const held = (daemon: DaemonProcess) => daemon.cli<WorkloadRow[]>('get')

async function holds(daemon: DaemonProcess, name: string, image?: string): Promise<boolean> {
  const row = (await held(daemon)).find((r) => r.name === name)
  return row !== undefined && (image === undefined || row.image === image)
}

describe('declarations across real daemons', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let a: DaemonProcess
  let b: DaemonProcess
  let c: DaemonProcess
  let files: string

  const file = async (name: string, text: string) => {
    const path = join(files, name)
    await writeFile(path, text)
    return path
  }
  const apply = (daemon: DaemonProcess, path: string) =>
    daemon.cli<{ name: string; outcome: string }[]>('apply', '-f', path)

  beforeAll(async () => {
    files = await DaemonProcess.tempDir('gary-specs-')
    for (let i = 0; i < 3; i++) dirs.push(await DaemonProcess.tempDir())
    dirs.push(files)
    a = await new DaemonProcess({ dataDir: dirs[0]!, testHooks: HOOKS }).start()
    b = await new DaemonProcess({ dataDir: dirs[1]!, join: [a.joinAddr], testHooks: HOOKS }).start()
    c = await new DaemonProcess({ dataDir: dirs[2]!, join: [a.joinAddr], testHooks: HOOKS }).start()
    daemons.push(a, b, c)
    await waitFor('all three to see each other', async () => {
      for (const d of daemons)
        if ((await d.cli<NodeView[]>('nodes')).filter((n) => n.state === 'alive').length !== 3) return false
      return true
    })
  })
  afterAll(() => cleanup(daemons, dirs))

  it('says in its log that its test hooks are on', () => {
    for (const d of daemons)
      expect(
        d.hasLog(
          'test hooks on: this node drops messages, cuts connections, shifts its clock or lags its mesh as told',
        ),
      ).toBe(true)
  })

  it('spreads an apply on A to B and C, and reports created / unchanged / updated', async () => {
    const path = await file('web.yaml', spec('web', 'gary/busybox:1'))
    expect(await apply(a, path)).toEqual([{ name: 'web', outcome: 'created', revision: 1 }])
    await waitFor('B and C to hold web', async () => (await holds(b, 'web')) && (await holds(c, 'web')))
    const rows = await Promise.all(daemons.map(held))
    expect(new Set(rows.map((r) => JSON.stringify(r))).size).toBe(1)
    expect(rows[0]![0]).toMatchObject({ name: 'web', image: 'gary/busybox:1', replicas: 2, origin: a.peerId })

    expect(await apply(b, path)).toEqual([{ name: 'web', outcome: 'unchanged', revision: 1 }])
    await writeFile(path, spec('web', 'gary/busybox:2'))
    expect(await apply(c, path)).toEqual([{ name: 'web', outcome: 'updated', revision: 2 }])
    await waitFor('A to hold the update made on C', () => holds(a, 'web', 'gary/busybox:2'))
  })

  it('converges through the digest when a gossip message is lost', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    const d = await new DaemonProcess({
      dataDir: dir,
      join: [a.joinAddr],
      testHooks: { ...HOOKS, dropDeclGossip: 1 },
    }).start()
    await waitFor('D to catch up with the existing set', () => holds(d, 'web'))
    // Apply new workloads on A until one of their messages reaches D and is dropped there.
    const names: string[] = []
    await waitFor('D to drop a declaration message', async () => {
      const name = `lost-${names.length}`
      names.push(name)
      await apply(a, await file(`${name}.yaml`, spec(name, 'gary/busybox:1')))
      return d.hasLog('test hook: dropped a declaration message')
    })
    await waitFor('D to hold every workload, the dropped one included', async () => {
      const rows = await held(d)
      return names.every((name) => rows.some((r) => r.name === name))
    })
    await d.kill('SIGTERM')
    for (const name of names) await a.cli('rm', name)
  })

  it('brings a node that was down during an apply up to date when it rejoins', async () => {
    await c.kill('SIGKILL')
    expect(await apply(a, await file('api.yaml', spec('api', 'gary/busybox:1')))).toEqual([
      { name: 'api', outcome: 'created', revision: 1 },
    ])
    await c.start()
    await waitFor('C to hold api after restarting', () => holds(c, 'api'))
  })

  it('keeps the store across a restart, with no peer to pull it from', async () => {
    const before = await held(b)
    expect(before.length, 'B holds workloads to keep').toBeGreaterThan(0)
    // A and C refuse B's connections: only B's own file can give it the set back.
    await partition(a, [b.peerId])
    await partition(c, [b.peerId])
    await b.kill('SIGTERM')
    await b.start()
    expect(await held(b)).toEqual(before)
    const others = (await b.cli<NodeView[]>('nodes')).filter((n) => !n.self && n.state === 'alive')
    expect(others, 'B heard a peer').toEqual([])
    await partition(a, [])
    await partition(c, [])
    await waitFor('B to be back among the three', async () =>
      (await b.cli<NodeView[]>('nodes')).every((n) => n.state === 'alive'),
    )
  })

  it('heals a partition: both sides write the same name, every node ends with the newest write', async () => {
    await partition(a, [c.peerId])
    await partition(b, [c.peerId])
    await partition(c, [a.peerId, b.peerId])
    await waitFor('A to see C dead', async () =>
      (await a.cli<NodeView[]>('nodes')).some((n) => n.id === c.peerId && n.state === 'dead'),
    )
    await apply(a, await file('db-a.yaml', spec('db', 'gary/db:from-a')))
    await apply(c, await file('db-c.yaml', spec('db', 'gary/db:from-c')))
    await waitFor('B to hold A’s write', () => holds(b, 'db', 'gary/db:from-a'))
    expect(await holds(c, 'db', 'gary/db:from-c')).toBe(true)

    for (const d of daemons) await partition(d, [])
    await waitFor('every node to hold the newest write (C’s)', async () => {
      for (const d of daemons) if (!(await holds(d, 'db', 'gary/db:from-c'))) return false
      return true
    })
    const rows = await Promise.all(daemons.map(held))
    expect(new Set(rows.map((r) => JSON.stringify(r))).size).toBe(1)
  })

  it('deletes everywhere with rm, and says when a name is not there', async () => {
    expect(await a.cli('rm', 'api')).toEqual([{ name: 'api', outcome: 'deleted' }])
    await waitFor('C to drop api', async () => !(await holds(c, 'api')))
    await expect(runCli(['rm', 'api', '--api', a.api])).rejects.toMatchObject({ stdout: 'api: not found\n' })
  })

  it('refuses bad files with every problem listed, and applies nothing', async () => {
    const before = await held(a)
    const bad = await file(
      'bad.yaml',
      'name: Web\nimage: x\nresources:\n  memory: 64Q\nimagee: y\n---\nname: web2\nimage: z\n---\nname: web2\nimage: z\n',
    )
    const err = await runCli(['apply', '-f', bad, '--api', a.api]).catch((e: { stderr: string }) => e)
    const stderr = (err as { stderr: string }).stderr
    expect(stderr).toContain('nothing applied')
    expect(stderr).toContain('spec[0].resources.memory: "64Q" is not a size')
    expect(stderr).toContain('spec[0].imagee')
    expect(stderr).toMatch(/spec\[0\]\.name/)
    expect(stderr).toMatch(/web2.*twice|twice.*web2/)

    const huge = await file('huge.yaml', `name: big\nimage: x\n# ${'x'.repeat(10 * 1024 * 1024)}\n`)
    await expect(runCli(['apply', '-f', huge, '--api', a.api])).rejects.toThrow(/over the 1048576 byte limit/)
    await expect(runCli(['apply', '-f', join(files, 'missing.yaml'), '--api', a.api])).rejects.toThrow(
      /cannot read/,
    )
    expect(await held(a)).toEqual(before)
  })
})
