import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { normaliseWorkload, type SlotPromise, type UnservedPort, type Workload } from '@gary/protocol'
import pino from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import type { EndpointNode } from '../src/mesh/endpoint-rows.js'
import { KernelForwarder } from '../src/mesh/kernel-forwarder.js'
import { chooseMeshMode, MeshModeError } from '../src/mesh/mesh-mode.js'
import { NAT_TABLE, natRemoval, natRuleset } from '../src/mesh/nat-ruleset.js'
import { NetfilterError, NftNetfilter } from '../src/mesh/netfilter.js'
import { NodeMesh } from '../src/mesh/node-mesh.js'
import { FakeNetfilter } from '../src/testing/fake-netfilter.js'
import { freePort, takenPort } from '../src/testing/taken-port.js'
import { waitFor } from '../src/testing/wait.js'

const logger = pino({ level: 'silent' })
const closers: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

function workload(name: string, published: number): Workload {
  const result = normaliseWorkload({ name, image: 'busybox', ports: [{ container: 8080, published }] })
  if (!result.ok) throw new Error(result.problems.join('\n'))
  return result.workloads[0]!
}

const ready = (slot: number, endpoint: string, ok = true): SlotPromise => ({
  workload: 'web',
  slot,
  generation: 'g1',
  phase: 'running',
  since: { wall: 1, logical: 0 },
  ready: ok,
  endpoints: [endpoint],
})

/** The DNAT rules of a ruleset, one per port. */
const dnat = (ruleset: string | undefined) =>
  (ruleset ?? '').split('\n').filter((line) => line.includes(' dnat ip to ') && !line.includes('127.0.0.0/8'))

describe('the kernel mesh’s rules', () => {
  const options = { forwarding: true }
  const local = { host: '172.17.0.3', port: 8080, local: true }
  const remote = (i: number) => ({ host: `10.0.0.${i}`, port: 32768, local: false })

  test('one slot: a plain DNAT; several: spread at random; each port in both nat hooks and masqueraded', () => {
    const ruleset = natRuleset(
      [
        { port: 8070, targets: [remote(3), remote(4)] },
        { port: 80, targets: [local] },
      ],
      options,
    )
    expect(dnat(ruleset)).toEqual([
      '    fib daddr type local tcp dport 80 dnat ip to 172.17.0.3:8080',
      '    fib daddr type local tcp dport 8070 dnat ip to numgen random mod 2 map { 0 : 10.0.0.3 . 32768, 1 : 10.0.0.4 . 32768 }',
    ])
    expect(ruleset).toContain(
      'ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 80 dnat ip to 172.17.0.3:8080',
    )
    expect(ruleset).toContain('ct status dnat ct original proto-dst { 80, 8070 } masquerade')
    // It replaces the table whole, leftovers included.
    expect(ruleset.split('\n').slice(0, 3)).toEqual([
      `table ip ${NAT_TABLE}`,
      `delete table ip ${NAT_TABLE}`,
      `table ip ${NAT_TABLE} {`,
    ])
  })

  test('without forwarding only ports served by own slots; never a target that is not IPv4; no slot, no rule', () => {
    const ports = [
      { port: 80, targets: [local] },
      { port: 81, targets: [remote(3)] },
      { port: 82, targets: [{ host: 'web.example', port: 1, local: false }] },
      { port: 83, targets: [] },
    ]
    expect(dnat(natRuleset(ports, options)).map((line) => line.split(' dnat')[0])).toEqual([
      '    fib daddr type local tcp dport 80',
      '    fib daddr type local tcp dport 81',
    ])
    const closed = natRuleset(ports, { forwarding: false })
    expect(dnat(closed)).toEqual(['    fib daddr type local tcp dport 80 dnat ip to 172.17.0.3:8080'])
  })

  test('nftables takes the ruleset, replaces a leftover table with it and removes it (a network namespace of the test’s own)', async () => {
    const leftover = natRuleset([{ port: 9, targets: [remote(9)] }], options)
    const ruleset = natRuleset(
      [
        { port: 8070, targets: [remote(3), remote(4)] },
        { port: 80, targets: [local] },
      ],
      options,
    )
    // unshare -n: a namespace that dies with the command; the host's firewall is never read or written.
    const script = `nft -f /dev/fd/3 3<<'A' && nft -f /dev/fd/3 3<<'B' && nft list table ip ${NAT_TABLE} && nft -f /dev/fd/3 3<<'C' && nft list tables
${leftover}A
${ruleset}B
${natRemoval()}C
`
    const out = await new Promise<string>((resolve, reject) =>
      execFile('unshare', ['-n', 'sh', '-c', script], (err, stdout, stderr) =>
        err === null ? resolve(stdout) : reject(new Error(`${err.message}\n${stderr}`)),
      ),
    )
    expect(out).toContain(
      'tcp dport 8070 dnat ip to numgen random mod 2 map { 0 : 10.0.0.3 . 32768, 1 : 10.0.0.4 . 32768 }',
    )
    expect(out).not.toContain('dport 9 ')
    expect(out).not.toContain(`table ip ${NAT_TABLE}\n`.repeat(2))
    expect(out.trim().endsWith('}')).toBe(true)
  })
})

describe('nft as the daemon runs it', () => {
  test('an nft that exits before reading its ruleset is a refusal, not a crash of the daemon', async () => {
    // More than a pipe holds: the write meets a closed pipe (EPIPE).
    await expect(new NftNetfilter('false').apply('#'.repeat(1 << 20))).rejects.toThrow(NetfilterError)
    await new NftNetfilter('true').apply('#'.repeat(1 << 20))
  })
})

describe('choosing the mesh mode', () => {
  const usable = async () => ({ usable: true as const, forwarding: true })
  const facts = { advertise: '10.0.0.1', probe: usable, lock: async () => true }

  test('auto: the kernel on a root node with nftables that serves other machines, else the proxy', async () => {
    expect(await chooseMeshMode('auto', facts)).toMatchObject({ mode: 'kernel', forwarding: true })
    expect(await chooseMeshMode('auto', { ...facts, advertise: '127.0.0.1' })).toMatchObject({
      mode: 'userland',
      reason: expect.stringContaining('loopback'),
    })
    expect(
      await chooseMeshMode('auto', {
        ...facts,
        probe: async () => ({ usable: false, reason: 'the daemon does not run as root' }),
      }),
    ).toMatchObject({ mode: 'userland', reason: expect.stringContaining('root') })
    expect(await chooseMeshMode('auto', { ...facts, lock: async () => false })).toMatchObject({
      mode: 'userland',
      reason: expect.stringContaining('another Gary daemon'),
    })
    let probed = false
    const probe = async () => {
      probed = true
      return usable()
    }
    expect(await chooseMeshMode('userland', { ...facts, probe })).toMatchObject({ mode: 'userland' })
    expect(probed).toBe(false)
  })

  test('kernel where it cannot be is an error saying why; on loopback it is what was asked', async () => {
    await expect(
      chooseMeshMode('kernel', { ...facts, probe: async () => ({ usable: false, reason: 'no nft' }) }),
    ).rejects.toThrow(MeshModeError)
    await expect(chooseMeshMode('kernel', { ...facts, lock: async () => false })).rejects.toThrow(
      'another Gary daemon',
    )
    expect(await chooseMeshMode('kernel', { ...facts, advertise: '127.0.0.1' })).toMatchObject({
      mode: 'kernel',
    })
  })
})

describe('the kernel mesh of a node', () => {
  async function kernelMesh(
    nodes: EndpointNode[],
    port: number,
    netfilter = new FakeNetfilter(),
    mode: 'auto' | 'kernel' = 'auto',
    publishUnserved: (ports: UnservedPort[]) => void = () => {},
  ) {
    const view = { workloads: [workload('web', port)], nodes }
    const mesh = new NodeMesh(
      { dns: 'off', mode, mesh: { host: '127.0.0.1' } },
      {
        self: 'n1',
        logger,
        now: () => performance.now(),
        workloads: () => view.workloads,
        nodes: () => view.nodes,
        declared: () => false,
        publishUnserved,
        advertiseHost: () => '10.0.0.1',
        netfilter,
        lockNetns: async () => createServer() as Server,
      },
    )
    closers.push(() => mesh.stop())
    await mesh.start()
    return { mesh, view, netfilter }
  }

  const node = (
    id: string,
    promises: SlotPromise[],
    status: EndpointNode['status'] = 'alive',
  ): EndpointNode => ({
    id,
    status,
    promises,
  })

  test('forwards a published port to the ready slots of live nodes, its own first, and follows the view', async () => {
    const port = await freePort()
    const leftover = new FakeNetfilter()
    leftover.table = 'a crashed daemon’s table'
    const { mesh, view, netfilter } = await kernelMesh(
      [
        node('n1', []),
        node('n3', [ready(0, `10.0.0.3:32768->8080/tcp`)]),
        node('n4', [ready(1, `10.0.0.4:32769->8080/tcp`), ready(2, `10.0.0.4:32770->8080/tcp`, false)]),
      ],
      port,
      leftover,
    )
    expect(mesh.mode).toBe('kernel')
    // The first write has no port: whatever a crashed daemon left is gone before anything is served.
    expect(dnat(netfilter.applied[0])).toEqual([])
    const rule = (targets: string) => `    fib daddr type local tcp dport ${port} ${targets}`
    await waitFor('both remote slots in the rules', () =>
      dnat(netfilter.table).includes(
        rule('dnat ip to numgen random mod 2 map { 0 : 10.0.0.3 . 32768, 1 : 10.0.0.4 . 32769 }'),
      ),
    )
    expect(mesh.kernelPorts).toEqual([port])
    // n3 turns suspect: out of rotation at once.
    view.nodes[1] = node('n3', [ready(0, `10.0.0.3:32768->8080/tcp`)], 'suspect')
    mesh.viewChanged()
    await waitFor('n3 out of the rules', () =>
      dnat(netfilter.table).includes(rule('dnat ip to 10.0.0.4:32769')),
    )
    // A slot of its own: only that one.
    view.nodes[0] = node('n1', [ready(3, `10.0.0.1:32771->8080/tcp`)])
    mesh.viewChanged()
    await waitFor('only the own slot in the rules', () =>
      dnat(netfilter.table).includes(rule('dnat ip to 10.0.0.1:32771')),
    )
    // No slot ready: no rule, and the proxy, which holds the port, closes connections at once.
    view.nodes = [node('n1', [])]
    mesh.viewChanged()
    await waitFor('no rule left', () => netfilter.table !== undefined && dnat(netfilter.table).length === 0)
    await mesh.stop()
    expect(netfilter.table).toBeUndefined()
  })

  test('says a released slot is out of rotation only once the kernel’s table no longer holds it', async () => {
    const port = await freePort()
    const withContainer = (promise: SlotPromise, container: string) => ({ ...promise, container })
    const slot0 = withContainer(ready(0, `10.0.0.3:32768->8080/tcp`), 'c3')
    const slot1 = withContainer(ready(1, `10.0.0.4:32769->8080/tcp`), 'c4')
    const { mesh, view, netfilter } = await kernelMesh(
      [node('n1', []), node('n3', [slot0]), node('n4', [slot1])],
      port,
    )
    await waitFor('both slots in the rules', () => dnat(netfilter.table).some((r) => r.includes('10.0.0.3')))
    let out: boolean | undefined
    void mesh.outOfRotation('n3', 'c3', AbortSignal.timeout(30_000)).then((answer) => {
      out = answer
    })
    // A container of that name on another node is another slot: out of rotation already.
    expect(await mesh.outOfRotation('n4', 'c3', AbortSignal.timeout(30_000))).toBe(true)
    // n3 releases its slot while the kernel is slow to take the new table.
    let open = () => {}
    netfilter.gate = new Promise((resolve) => {
      open = resolve
    })
    view.nodes[1] = node('n3', [{ ...slot0, phase: 'releasing', ready: false }])
    mesh.viewChanged()
    await waitFor('the new table at the kernel', () => netfilter.held === 1)
    expect(out).toBeUndefined()
    expect(dnat(netfilter.table).some((r) => r.includes('10.0.0.3'))).toBe(true)
    netfilter.gate = undefined
    open()
    await waitFor('the slot said out of rotation', () => out === true)
    expect(dnat(netfilter.table).some((r) => r.includes('10.0.0.3'))).toBe(false)
    // Still in rotation when the asker gives up: not out.
    expect(await mesh.outOfRotation('n4', 'c4', AbortSignal.timeout(50))).toBe(false)
  })

  test('says when a given update is in the table, though newer ones keep coming to a slow kernel', async () => {
    const netfilter = new FakeNetfilter()
    const forwarder = new KernelForwarder({ forwarding: true }, { netfilter, logger })
    closers.push(() => forwarder.stop())
    const port = (target: number) => [
      { port: 80, targets: [{ host: '10.0.0.3', port: target, local: false }] },
    ]
    const gate = () => {
      let open = () => {}
      netfilter.gate = new Promise((resolve) => {
        open = resolve
      })
      return open
    }
    const openFirst = gate()
    forwarder.update(port(1))
    const first = forwarder.updates
    await waitFor('the first table at the kernel', () => netfilter.held === 1)
    forwarder.update(port(2))
    const second = forwarder.updates
    let reached = false
    void forwarder.reached(first).then(() => {
      reached = true
    })
    // The first table goes in; the second one waits at the kernel: the first is reached anyway.
    const openSecond = gate()
    openFirst()
    await waitFor('the first update reached while the second waits', () => reached && netfilter.held === 1)
    expect(dnat(netfilter.table)[0]).toContain('10.0.0.3:1')
    netfilter.gate = undefined
    openSecond()
    await forwarder.reached(second)
    expect(dnat(netfilter.table)[0]).toContain('10.0.0.3:2')
  })

  test('never forwards a port another process holds', async () => {
    const { port, close } = await takenPort()
    closers.push(close)
    const published: UnservedPort[][] = []
    const { mesh, netfilter } = await kernelMesh(
      [node('n3', [ready(0, `10.0.0.3:32768->8080/tcp`)])],
      port,
      undefined,
      'auto',
      (ports) => published.push(ports),
    )
    // The view that says the port is held elsewhere has been read, and its rules written.
    await waitFor('the port reported unserved', () => published.some((ports) => ports[0]?.port === port))
    await mesh.settled()
    expect(netfilter.applied.length).toBeGreaterThan(0)
    expect(dnat(netfilter.table)).toEqual([])
  })

  test('rules that cannot be written are removed: the proxy serves every port, and the next view tries again', async () => {
    const port = await freePort()
    const netfilter = new FakeNetfilter()
    const { mesh, view } = await kernelMesh([node('n3', [])], port, netfilter)
    netfilter.failWith = 'nft: Could not process rule: No such file or directory'
    view.nodes = [node('n3', [ready(0, `10.0.0.3:32768->8080/tcp`)])]
    mesh.viewChanged()
    await waitFor('the table removed', () => netfilter.table === undefined)
    expect(mesh.kernelPorts).toEqual([])
    netfilter.failWith = undefined
    mesh.viewChanged()
    await waitFor('the port back in the kernel', () => mesh.kernelPorts.includes(port))
  })

  test('--mesh kernel where nftables cannot be used stops the start with why', async () => {
    const port = await freePort()
    await expect(
      kernelMesh(
        [],
        port,
        new FakeNetfilter({ usable: false, reason: 'the daemon does not run as root' }),
        'kernel',
      ),
    ).rejects.toThrow('--mesh kernel: nftables cannot be used: the daemon does not run as root')
  })
})
