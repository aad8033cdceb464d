import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import { LABELS, volumeName } from '../packages/node/src/reconcile/container-labels.js'
import { cleanup, DaemonProcess, runCli, waitFor } from '../packages/node/src/testing/index.js'
import type { VolumeRow } from '../packages/node/src/volumes/remove.js'
import { docker } from './cluster-checks.js'
import { dockerForTests } from './docker-required.js'

// Volumes end to end: two real daemons on one Docker engine. n1 carries disk=ssd and allows one
// host directory; n2 allows none. A named volume's data outlives its container and a daemon
// restart; a bind mount outside the allowed prefixes (or leading out through a link) starts
// nothing anywhere, and says why; an allowed one is mounted read-only.

const NODE_ARGS = ['--runtime', 'docker', '--cpu', '2', '--memory', '2Gi']

const available = await dockerForTests('volumes on Docker')

describe.runIf(available)('volumes on a shared Docker engine', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let host = ''
  let allowed = ''
  let n1: DaemonProcess
  let n2: DaemonProcess

  const apply = async (name: string, spec: string) => {
    const file = join(host, `${name}.yaml`)
    await writeFile(file, spec)
    await n2.cli('apply', '-f', file)
  }
  const running = async (workload: string, node: DaemonProcess) =>
    (await docker.list({ [LABELS.workload]: workload, [LABELS.node]: node.peerId })).filter(
      (c) => c.state === 'running',
    )
  const stdoutOf = async (id: string) => {
    const lines: string[] = []
    for await (const line of docker.logs(id)) if (line.stream === 'stdout') lines.push(line.line)
    return lines
  }
  /** The one running container of `db` on n1 once it has printed the token and its own name. */
  const dbRun = (label: string, not?: string) =>
    waitFor(
      label,
      async () => {
        const [c] = await running('db', n1)
        if (c === undefined || c.id === not) return undefined
        const lines = await stdoutOf(c.id)
        const token = lines.find((l) => l.startsWith('token '))
        const self = lines.find((l) => l.startsWith('this is '))
        return token === undefined || self === undefined ? undefined : { id: c.id, token, self }
      },
      { timeoutMs: 40_000 },
    )

  beforeAll(async () => {
    host = await realpath(await mkdtemp(join(tmpdir(), 'gary-volumes-')))
    allowed = join(host, 'allowed')
    await mkdir(join(allowed, 'data'), { recursive: true })
    await mkdir(join(host, 'outside'))
    await writeFile(join(allowed, 'data', 'hello'), 'hello from the host\n')
    await symlink(join(host, 'outside'), join(allowed, 'link'))
    for (let i = 0; i < 2; i++) dirs.push(await DaemonProcess.tempDir())
    n1 = await new DaemonProcess({
      dataDir: dirs[0]!,
      args: [...NODE_ARGS, '--label', 'disk=ssd', '--allow-host-path', allowed],
    }).start()
    n2 = await new DaemonProcess({ dataDir: dirs[1]!, join: [n1.joinAddr], args: NODE_ARGS }).start()
    daemons.push(n1, n2)
    await waitFor('both nodes alive on both', async () => {
      for (const d of daemons) {
        const nodes = await d.cli<NodeView[]>('nodes')
        if (nodes.filter((n) => n.state === 'alive').length !== 2) return false
      }
      return true
    })
  }, 60_000)

  afterAll(async () => {
    await cleanup(daemons, dirs)
    for (const daemon of daemons) {
      for (const c of await docker.list({ [LABELS.node]: daemon.peerId }))
        await docker.remove(c.id).catch(() => {})
      for (const v of await docker.listVolumes({ [LABELS.node]: daemon.peerId }))
        await docker.removeVolume(v.name).catch(() => {})
    }
    if (host !== '') await rm(host, { recursive: true, force: true })
  })

  it("keeps a named volume's data across a new container and a daemon restart, and removes it only when unused", async () => {
    // The first container writes the token; every later one finds it and prints it.
    await apply(
      'db',
      `name: db
image: gary/busybox:test
constraints: {disk: ssd}
volumes: [{name: data, target: /var/lib/db}]
command: [sh, -c, '[ -f /var/lib/db/token ] || echo "token written by $HOSTNAME" > /var/lib/db/token; echo "token $(cat /var/lib/db/token)"; echo "this is $HOSTNAME"; sleep 1000']
`,
    )
    const first = await dbRun('the first db container to write its token')
    expect(first.token).toBe(`token token written by ${first.self.slice('this is '.length)}`)

    // A new container (the old one removed behind the daemon's back): same volume, same token.
    await docker.remove(first.id)
    const second = await dbRun('a new db container after the first was removed', first.id)
    expect(second.self).not.toBe(first.self)
    expect(second.token, 'the new container reads the first one’s token from the volume').toBe(first.token)

    // The daemon dies, its container with it; the restarted daemon's new container finds the data.
    await n1.kill('SIGKILL')
    await docker.remove(second.id)
    // Its listen port is new: it joins through n2, which cannot find it at the old one.
    n1 = await new DaemonProcess({ ...n1.options, join: [n2.joinAddr] }).start()
    daemons[0] = n1
    const third = await dbRun('a db container after the daemon restarted', second.id)
    expect(third.self).not.toBe(second.self)
    expect(third.token, 'the token survives the daemon restart').toBe(first.token)

    const listed = await waitFor(
      'gary volume ls on n2 to show n1’s volume in use',
      async () => {
        const rows = await n2.cli<VolumeRow[]>('volume', 'ls')
        return rows.some((r) => r.inUse) ? rows : undefined
      },
      { timeoutMs: 30_000 },
    )
    expect(listed).toEqual([
      { workload: 'db', slot: 0, name: 'data', inUse: true, node: n1.peerId, state: 'alive' },
    ])
    // Asked anywhere, a removal of a volume in use removes nothing.
    const busy = await runCli(['volume', 'rm', 'db', '--api', n2.api]).catch((err: Error) => err.message)
    expect(busy).toMatch(/volume db\/0\/data is in use by a container on .*nothing removed/)

    // The workload goes; its volume stays until removed by hand, from any node.
    await n2.cli('rm', 'db')
    await waitFor(
      'db’s containers gone',
      async () => (await docker.list({ [LABELS.workload]: 'db', [LABELS.node]: n1.peerId })).length === 0,
    )
    expect((await docker.listVolumes({ [LABELS.node]: n1.peerId })).map((v) => v.name)).toEqual([
      volumeName(n1.peerId, 'db', 0, 'data'),
    ])
    // Unused now, as n1 publishes it: n2 asks n1 to remove it.
    await waitFor('n1 to publish its volume unused', async () => {
      const rows = await n2.cli<VolumeRow[]>('volume', 'ls')
      return rows.length === 1 && !rows[0]!.inUse
    })
    expect(await n2.cli('volume', 'rm', 'db/0/data')).toEqual({
      removed: [{ node: n1.peerId, volume: 'db/0/data' }],
      refused: [],
    })
    expect(await docker.listVolumes({ [LABELS.node]: n1.peerId })).toEqual([])
    expect(n1.hasLog('volume removal asked by a peer', { peer: n2.peerId })).toBe(true)
  }, 150_000)

  it('refuses a bind mount outside the allowed prefixes, or leading out through a link: nothing starts, ps says why', async () => {
    const outside = join(host, 'outside')
    const link = join(allowed, 'link')
    await apply(
      'outside',
      `name: outside
image: gary/busybox:test
volumes: [{source: ${outside}, target: /x, readOnly: true}]
command: [sh, -c, 'sleep 1000']
---
name: through-link
image: gary/busybox:test
volumes: [{source: ${link}, target: /x}]
command: [sh, -c, 'sleep 1000']
`,
    )
    const rows = await waitFor(
      'both workloads unschedulable, with the refusal of the link on n1',
      async () => {
        const all = await n2.cli<SlotRow[]>('ps')
        const out = all.find((r) => r.workload === 'outside')
        const through = all.find((r) => r.workload === 'through-link')
        return out?.phase === 'unschedulable' &&
          through?.phase === 'unschedulable' &&
          (through.reasons ?? []).some((r) => r.includes('refused'))
          ? { out, through }
          : undefined
      },
      { timeoutMs: 30_000 },
    )
    const both = [n1.peerId, n2.peerId].sort().join(', ')
    expect(rows.out.reasons).toEqual([`host path ${outside} not allowed on ${both}`])
    expect(rows.through.reasons).toEqual([
      `host path ${link} not allowed on ${n2.peerId}`,
      `${n1.peerId} refused: host path ${link} leads to ${outside}, which is not allowed on ${n1.peerId}`,
    ])
    const text = await runCli(['ps', 'outside', '--api', n1.api])
    expect(text).toContain(`host path ${outside} not allowed on`)
    expect(await docker.list({ [LABELS.workload]: 'outside' })).toEqual([])
    expect(await docker.list({ [LABELS.workload]: 'through-link' })).toEqual([])
    await n2.cli('rm', 'outside', 'through-link')
  }, 60_000)

  it('mounts an allowed host path read-only, only on the node that allows it: reads work, a write fails', async () => {
    await apply(
      'files',
      `name: files
image: gary/busybox:test
replicas: 2
volumes: [{source: ${allowed}/x/../data, target: /in, readOnly: true}]
command: [sh, -c, 'cat /in/hello; echo x > /in/new || echo write refused; sleep 1000']
`,
    )
    const rows = await waitFor(
      'both slots running',
      async () => {
        const all = (await n2.cli<SlotRow[]>('ps', 'files')).sort((a, b) => a.slot - b.slot)
        return all.length === 2 && all.every((r) => r.phase === 'running') ? all : undefined
      },
      { timeoutMs: 30_000 },
    )
    // n2 allows no host path: both slots run on n1, though spreading would put one on each.
    expect(rows.map((r) => r.node)).toEqual([n1.peerId, n1.peerId])
    const started = await running('files', n1)
    expect(started).toHaveLength(2)
    for (const c of started) {
      const lines = await waitFor('the container to try its write', async () => {
        const out = await stdoutOf(c.id)
        return out.includes('write refused') ? out : undefined
      })
      expect(lines).toEqual(['hello from the host', 'write refused'])
    }
    await expect(readFile(join(allowed, 'data', 'new'))).rejects.toThrow(/ENOENT/)
    expect(await running('files', n2)).toEqual([])
    await n2.cli('rm', 'files')
  }, 60_000)

  it('places a free slot again on the node holding its volume, though that node is the busier', async () => {
    // The slot first runs on n1 (the constraint), which makes its volume there.
    const cache = (constraints: string) => `name: cache
image: gary/busybox:test
${constraints}volumes: [{name: data, target: /data}]
command: [sh, -c, 'sleep 1000']
`
    await apply('cache', cache('constraints: {disk: ssd}\n'))
    await waitFor('cache running on n1', async () => (await running('cache', n1)).length === 1, {
      timeoutMs: 30_000,
    })
    await n2.cli('rm', 'cache')
    // n1 busier than n2: without its volume, the slot would go to n2 (fewer replicas tie, then load).
    await apply(
      'ballast',
      `name: ballast
image: gary/busybox:test
constraints: {disk: ssd}
resources: {cpu: 1}
command: [sh, -c, 'sleep 1000']
`,
    )
    await waitFor('ballast running on n1, cache gone', async () => {
      const gone = (await docker.list({ [LABELS.workload]: 'cache' })).length === 0
      return gone && (await running('ballast', n1)).length === 1
    })
    await waitFor('n1 to publish cache’s volume', async () =>
      (await n2.cli<VolumeRow[]>('volume', 'ls')).some((v) => v.workload === 'cache' && v.node === n1.peerId),
    )
    await apply('cache', cache(''))
    const rows = await waitFor('cache running again', async () => {
      const all = await n2.cli<SlotRow[]>('ps', 'cache')
      return all.length === 1 && all[0]!.phase === 'running' ? all : undefined
    })
    expect(rows[0]!.node, 'the slot went back to the node holding its data').toBe(n1.peerId)
    await n2.cli('rm', 'cache', 'ballast')
  }, 90_000)
})
