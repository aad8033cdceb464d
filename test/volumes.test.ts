import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import { type DaemonProcess, runCli, waitFor } from '../packages/node/src/testing/index.js'
import type { VolumeRow } from '../packages/node/src/volumes/remove.js'
import { docker } from './cluster-checks.js'
import { dockerCluster } from './docker-cluster.js'
import { dockerForTests } from './docker-required.js'

// Volumes end to end: two real daemons on one Docker engine. n1 carries disk=ssd and allows one
// host directory; n2 allows none. A bind mount outside the allowed prefixes (or leading out
// through a link) starts nothing anywhere, and says why; an allowed one is mounted read-only; a
// slot goes back to the node holding its volume. A named volume's data across a new container
// and a daemon restart, and its removal, are shown on the lab (test/lab/workloads.test.ts).

const available = await dockerForTests('volumes on Docker')

describe.runIf(available)('volumes on a shared Docker engine', () => {
  let host = ''
  let allowed = ''
  const { daemons } = dockerCluster({
    prepare: async () => {
      host = await realpath(await mkdtemp(join(tmpdir(), 'gary-volumes-')))
      allowed = join(host, 'allowed')
      await mkdir(join(allowed, 'data'), { recursive: true })
      await mkdir(join(host, 'outside'))
      await writeFile(join(allowed, 'data', 'hello'), 'hello from the host\n')
      await symlink(join(host, 'outside'), join(allowed, 'link'))
    },
    args: (i) => [
      '--cpu',
      '2',
      '--memory',
      '2Gi',
      ...(i === 0 ? ['--label', 'disk=ssd', '--allow-host-path', allowed] : []),
    ],
    finish: async () => {
      if (host !== '') await rm(host, { recursive: true, force: true })
    },
  })
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
  beforeAll(() => {
    ;[n1, n2] = daemons as [DaemonProcess, DaemonProcess]
  })

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
