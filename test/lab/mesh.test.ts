import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SlotRow } from '../../packages/node/src/api/slot-rows.js'
import type { EndpointRow } from '../../packages/node/src/mesh/endpoint-rows.js'
import { Lab } from '../../packages/node/src/testing/lab.js'
import { waitFor } from '../../packages/node/src/testing/wait.js'
import { TEST_IMAGE } from '../../packages/runtime/src/test-image.js'

// The routing mesh and workload names on five machines (scripts/lab.sh), one lab for the file.
// Machine i's daemon carries the label m=i, so that a test can say where slots run; machines 3
// and 4 also carry web=yes. Machine 1 forwards published ports in the kernel (--mesh kernel),
// machine 2 in the daemon (--mesh userland), the others as `auto` picks (the kernel: the lab runs
// as root with nftables); requests go through machines 1 and 2 side by side. Machine 4 writes its
// kernel table MESH_LAG_MS late (a test hook): a node slow to follow the view. The failover test
// powers machine 3 off, so it runs last.
const MACHINES = 5
/** What the daemons are told: the failover bound below is derived from it. */
const DEAD_AFTER_MS = 3000
const LOOP = fileURLToPath(new URL('../../scripts/request-loop.mjs', import.meta.url))
let lab: Lab
const nodeOf = new Map<number, string>()
const machineOf = (node: string | null) => [...nodeOf].find(([, id]) => id === node)?.[0]
const MODE: Record<number, string[]> = {
  1: ['--mesh', 'kernel'],
  2: ['--mesh', 'userland'],
  4: ['--mesh', 'kernel', '--test-hooks'],
}
/** How late machine 4 writes its kernel table, ms: longer than the drain's 1 s. */
const MESH_LAG_MS = 2500
/** The kernel mesh's rules on machine `i` (empty when it has none). */
const natTable = (i: number) =>
  lab.exec(i, ['sh', '-c', 'nft list table ip gary-mesh 2>/dev/null || true']).then((out) => out)

interface LoopResult {
  results: [at: number, ok: boolean, ms: number, text: string][]
}

/** A request loop on machine `i` against `url` (see request-loop.mjs); resolves when it ends. */
async function requestLoop(i: number, url: string, durationMs: number, stopFile = ''): Promise<LoopResult> {
  const out = await lab.exec(
    i,
    ['node', LOOP, url, String(durationMs), '2000', '20', stopFile],
    durationMs + 60_000,
  )
  return JSON.parse(out) as LoopResult
}

async function apply(i: number, workload: string, spec: string): Promise<void> {
  const path = await lab.put(i, `${workload}.yaml`, `name: ${workload}\nimage: ${TEST_IMAGE}\n${spec}`)
  expect(await lab.gary(i, ['apply', '-f', path])).toMatch(new RegExp(`^${workload}: (created|updated)`))
}

/**
 * A web server whose page names its slot, its container and its version. `cpu`: what it may use
 * (a request loop's every request forks an httpd, and its health check runs in the same quota).
 */
const web = (version: string, cpu = '50m') =>
  `command: [sh, -c, 'mkdir -p /www; echo "$VERSION slot $GARY_SLOT on $(hostname)" > /www/index.html; exec httpd -f -p 8080 -h /www']
env: {VERSION: ${version}}
resources: {cpu: ${cpu}, memory: 16Mi}
`

/** Machine `i`'s view of `workload`'s published ports. */
const endpointsOn = async (i: number, workload: string) =>
  (await lab.api<EndpointRow[]>(i, '/v1/endpoints')).filter((row) => row.workload === workload)

/** Waits until every machine asked lists `count` ready slots behind `workload`'s published port. */
async function readyBehind(workload: string, count: number, machines = lab.machines): Promise<void> {
  await waitFor(
    `${count} ready slots behind ${workload}'s published port on machines ${machines.join(',')}`,
    async () => {
      for (const i of machines) if ((await endpointsOn(i, workload))[0]?.slots.length !== count) return false
      return true
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  )
}

beforeAll(async () => {
  lab = await Lab.up(MACHINES)
  const args = (i: number) => [
    '--label',
    `m=${i}`,
    ...(i === 3 || i === 4 ? ['--label', 'web=yes'] : []),
    '--dead-after-ms',
    String(DEAD_AFTER_MS),
    ...(MODE[i] ?? []),
  ]
  await lab.startDaemon(1, args(1))
  const seed = (await lab.joinAddrs(1))[0]!
  await Promise.all(
    [2, 3, 4, 5].map((i) =>
      lab.startDaemon(i, [...args(i), '--join', seed], i === 4 ? { GARY_TEST_MESH_LAG_MS: MESH_LAG_MS } : {}),
    ),
  )
  for (const i of lab.machines) nodeOf.set(i, await lab.nodeId(i))
  await waitFor(
    'every machine to list all five alive',
    async () => {
      for (const i of lab.machines) {
        const nodes = await lab.api<{ state: string }[]>(i, '/v1/nodes')
        if (nodes.length !== MACHINES || nodes.some((node) => node.state !== 'alive')) return false
      }
      return true
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  )
  await apply(
    2,
    'web',
    `${web('v1')}replicas: 1\nconstraints: {m: "3"}\nports: [{container: 8080, published: 80}]\n`,
  )
  await readyBehind('web', 1)
}, 300_000)

afterAll(async () => {
  await lab?.down()
}, 120_000)

describe('the routing mesh on five machines', () => {
  it('serves a published port on every machine: from machine 5, machine 1:80 reaches the slot on machine 3', async () => {
    const page = await lab.exec(5, ['curl', '-fsS', '--max-time', '5', `http://${lab.address(1)}:80/`])
    const [row] = (await lab.garyJson<SlotRow[]>(5, 'ps', 'web')).filter((r) => r.phase === 'running')
    expect(machineOf(row!.node)).toBe(3)
    expect(page.trim()).toBe(`v1 slot 0 on ${row!.containerId!.slice(0, 12)}`)
    // Machine 1 forwards it in the kernel, to machine 3's endpoint; machine 2's daemon forwards it.
    const [slot] = (await endpointsOn(1, 'web'))[0]!.slots
    expect(await natTable(1)).toContain(`fib daddr type local tcp dport 80 dnat to ${slot!.endpoint}`)
    expect(await natTable(2)).toBe('')
    expect((await lab.logs(3)).some((line) => line.msg.startsWith('routing mesh: the kernel forwards'))).toBe(
      true,
    )
    expect(await lab.exec(5, ['curl', '-fsS', '--max-time', '5', `http://${lab.address(2)}:80/`])).toBe(page)
    // Any machine lists every machine's address, and the slot behind them.
    const [endpoints] = await lab.garyJson<EndpointRow[]>(4, 'endpoints', 'web')
    expect(endpoints).toMatchObject({ workload: 'web', port: 80, containerPort: 8080, unserved: [] })
    expect(endpoints!.addresses.sort()).toEqual(lab.machines.map((i) => `${lab.address(i)}:80`).sort())
    expect(endpoints!.slots.map((s) => [s.slot, machineOf(s.node), s.endpoint.split(':')[0]])).toEqual([
      [0, 3, lab.address(3)],
    ])
  })

  it('resolves a workload by name in a container: client on machine 1 reaches web on machine 3', async () => {
    await apply(
      1,
      'client',
      `command: [sh, -c, 'while true; do for name in web web.gary; do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc $name 80 | tail -n 1 | sed "s/^/$name: /"; done; sleep 1; done']
constraints: {m: "1"}
resources: {cpu: 50m, memory: 16Mi}
`,
    )
    const [row] = (await lab.garyJson<SlotRow[]>(1, 'ps', 'web')).filter((r) => r.phase === 'running')
    const expected = `v1 slot 0 on ${row!.containerId!.slice(0, 12)}`
    await waitFor(
      'the client container to print web’s page, reached by name and by name.gary',
      async () => {
        const logs = await lab.gary(1, ['logs', 'client', '--tail', '20'])
        return logs.includes(`web: ${expected}`) && logs.includes(`web.gary: ${expected}`)
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    )
    const [client] = await lab.garyJson<SlotRow[]>(1, 'ps', 'client')
    expect(machineOf(client!.node)).toBe(1)
    expect((await lab.engine(1).inspect(client!.containerId!)).dns).toEqual(['172.17.0.1'])
    await lab.gary(1, ['rm', 'client'])
  })

  it('says so, on the node and from any other, when another process holds a published port', async () => {
    // Machine 1, whose kernel forwards published ports, already runs something on 8081.
    await lab.exec(1, [
      'sh',
      '-c',
      `node -e 'require("net").createServer().listen(8081)' </dev/null >/dev/null 2>&1 &`,
    ])
    const mark = (await lab.logs(1)).length
    await apply(4, 'busy', `${web('v1')}constraints: {m: "4"}\nports: [{container: 8080, published: 8081}]\n`)
    const reason = 'port 8081/tcp is in use by another process'
    await waitFor(
      'machine 5 to list machine 1 as not serving port 8081',
      async () => (await endpointsOn(5, 'busy'))[0]?.unserved.length === 1,
      { timeoutMs: 30_000, intervalMs: 250 },
    )
    const [row] = await endpointsOn(5, 'busy')
    expect(row!.unserved).toEqual([{ node: nodeOf.get(1), reason }])
    expect(row!.addresses).not.toContain(`${lab.address(1)}:8081`)
    // The kernel never takes another process's port: machine 1 forwards 80, never 8081.
    const table = await natTable(1)
    expect(table).toContain('tcp dport 80 dnat')
    expect(table).not.toContain('8081')
    expect(row!.addresses).toHaveLength(MACHINES - 1)
    // Tables show a node as its name (the lab machine's hostname) beside the end of its id.
    expect(await lab.gary(5, ['ps', 'busy'])).toContain(
      `busy: port 8081/tcp not served on m1 (${nodeOf.get(1)!.slice(-8)}): ${reason}`,
    )
    const logged = (await lab.logs(1)).slice(mark).filter((line) => line.msg === 'published port not served')
    expect(logged[0]).toMatchObject({ level: 40, port: 8081, workload: 'busy', reason })
    // A workload may not take a port another one publishes.
    const clash = await lab.put(
      3,
      'clash.yaml',
      `name: clash\nimage: ${TEST_IMAGE}\nports: [{container: 1, host: 8081}]\n`,
    )
    await expect(lab.gary(3, ['apply', '-f', clash])).rejects.toThrow(
      'spec.ports[0]: host 8081/tcp is published by workload busy too: published ports are served on every node',
    )
    await lab.gary(4, ['rm', 'busy'])
  })

  it('loses no request through the kernel or the userland mesh during a rolling update, even through a node slow to follow it', async () => {
    await apply(
      2,
      'roll',
      `${web('v1', '250m')}replicas: 3\nports: [{container: 8080, published: 8090}]\nhealth: {http: {path: /, port: 8080}, interval: 1s, timeout: 1s, retries: 1}\n`,
    )
    await readyBehind('roll', 3)
    // The loop runs until this file appears in machine 5's /root.
    const stop = '/root/roll-stop'
    // Through machine 4 too, whose kernel forwards with a view MESH_LAG_MS old: each released slot
    // keeps running until that node's table no longer sends it connections.
    const loops = [1, 2, 4].map((via) => requestLoop(5, `http://${lab.address(via)}:8090/`, 180_000, stop))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    // A new generation: each slot is replaced in turn, one unavailable at a time.
    await apply(
      3,
      'roll',
      `${web('v2', '250m')}replicas: 3\nports: [{container: 8080, published: 8090}]\nhealth: {http: {path: /, port: 8080}, interval: 1s, timeout: 1s, retries: 1}\n`,
    )
    await waitFor(
      'every slot of roll to run v2 and be ready behind the mesh',
      async () => {
        const [row] = await endpointsOn(1, 'roll')
        if (row?.slots.length !== 3) return false
        const pages = await Promise.all(
          [0, 1, 2].map(() =>
            lab.exec(5, ['curl', '-fsS', '--max-time', '5', `http://${lab.address(1)}:8090/`]),
          ),
        )
        const rows = await lab.api<SlotRow[]>(1, '/v1/slots')
        const generations = new Set(rows.filter((r) => r.workload === 'roll').map((r) => r.generation))
        return (
          generations.size === 1 &&
          rows.filter((r) => r.workload === 'roll').every((r) => r.ready) &&
          pages.every((page) => page.startsWith('v2'))
        )
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    )
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await lab.put(5, 'roll-stop', '')
    // A failed health check restarts a container (it drains first): said beside any failure.
    const restarts = (await Promise.all(lab.machines.map((i) => lab.logs(i))))
      .flat()
      .filter((line) => line.workload === 'roll' && line.msg === 'container exited: restarting')
      .map(({ time, slot, unhealthy }) => ({ time, slot, unhealthy }))
    const modes = ['kernel (machine 1)', 'userland (machine 2)', `kernel, ${MESH_LAG_MS} ms late (machine 4)`]
    for (const [i, { results }] of (await Promise.all(loops)).entries()) {
      const mode = modes[i]!
      const failed = results.filter(([, ok]) => !ok)
      console.info(
        `rolling update through the ${mode} mesh: ${failed.length} of ${results.length} requests failed`,
      )
      const versions = new Set(results.filter(([, ok]) => ok).map(([, , , text]) => text.split(' ')[0]))
      expect(versions, mode).toEqual(new Set(['v1', 'v2']))
      expect(results.length, mode).toBeGreaterThan(20)
      expect(
        failed,
        `failed requests during the update through the ${mode} mesh: ${JSON.stringify(failed)} (containers restarted meanwhile: ${JSON.stringify(restarts)})`,
      ).toEqual([])
    }
    await lab.gary(2, ['rm', 'roll'])
  }, 300_000)

  it('keeps requests succeeding when a machine holding a slot loses power, but for at most the failure-detection time', async () => {
    await apply(
      2,
      'fail',
      `${web('v1')}replicas: 2\nconstraints: {web: "yes"}\nports: [{container: 8080, published: 8070}]\n`,
    )
    await readyBehind('fail', 2)
    const slots = (await endpointsOn(1, 'fail'))[0]!.slots
    expect(slots.map((s) => machineOf(s.node)).sort()).toEqual([3, 4])
    // Through machine 1's kernel mesh and machine 2's userland one (neither holds a slot), from
    // machine 5, while machine 3 goes dark.
    const loops = [1, 2].map((via) => requestLoop(5, `http://${lab.address(via)}:8070/`, 12_000))
    await new Promise((resolve) => setTimeout(resolve, 2000))
    await lab.poweroff(3)
    for (const [i, { results }] of (await Promise.all(loops)).entries()) {
      const mode = i === 0 ? 'kernel (machine 1)' : 'userland (machine 2)'
      const failed = results.filter(([, ok]) => !ok)
      const ok = results.filter(([, ok]) => ok)
      const window = failed.length === 0 ? 0 : failed.at(-1)![0] + failed.at(-1)![2] - failed[0]![0]
      // Detection of a silent machine takes at most --dead-after-ms, and a request may be in
      // flight to it when it dies (the kernel cannot retry a connection elsewhere: it fails at
      // the client's timeout): the window of failures stays within that, with a margin for a
      // loaded host.
      const bound = DEAD_AFTER_MS + 2000
      console.info(
        `failover through the ${mode} mesh: ${failed.length} of ${results.length} requests failed, over ${window} ms (bound ${bound} ms)`,
      )
      expect(window, `${mode}: failed requests: ${JSON.stringify(failed)}`).toBeLessThanOrEqual(bound)
      // Requests before and after the failover all succeeded, from machine 4's slot at the end.
      expect(ok.length, mode).toBeGreaterThan(failed.length)
      const last = results.slice(-5)
      expect(
        last.every(([, good]) => good),
        mode,
      ).toBe(true)
    }
    const survivor = (await endpointsOn(1, 'fail'))[0]!.slots
    expect(survivor.map((s) => machineOf(s.node))).toContain(4)
  }, 180_000)
})
