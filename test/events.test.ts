import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { EventView } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import {
  cleanup,
  DaemonProcess,
  GARY_BIN,
  runCli,
  waitFor,
  withoutGarySettings,
} from '../packages/node/src/testing/index.js'

// `gary events` end to end: three real daemons over TCP (the fake runtime: the events are the
// daemons' own), each recording only what it did and saw, merged on whichever node is asked.

type Event = Extract<EventView, { kind: string }>
/** A daemon's start on this busy shared machine (load averages past 50) takes seconds. */
const START_MS = 60_000

const eventsOn = async (daemon: DaemonProcess, ...args: string[]): Promise<EventView[]> => {
  const stdout = await runCli(['events', '--api', daemon.api, '--json', ...args])
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as EventView)
}
const only = (items: EventView[]) => items.filter((item): item is Event => 'kind' in item)

describe('gary events', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  afterAll(() => cleanup(daemons, dirs))

  it('on node 3 shows the claims node 1 made, with their rules, in one order from every node', async () => {
    for (let i = 0; i < 3; i++) dirs.push(await DaemonProcess.tempDir())
    const names = ['one', 'two', 'three']
    const first = await new DaemonProcess({
      startTimeoutMs: START_MS,
      dataDir: dirs[0]!,
      args: ['--name', names[0]!],
    }).start()
    daemons.push(first)
    for (const i of [1, 2])
      daemons.push(
        await new DaemonProcess({
          dataDir: dirs[i]!,
          join: [first.joinAddr],
          args: ['--name', names[i]!],
        }).start(),
      )
    const [n1, n2, n3] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess]
    await waitFor('every node to see three alive', async () => {
      for (const d of daemons) if ((await d.cli<unknown[]>('nodes')).length !== 3) return false
      return true
    })

    const spec = join(dirs[0]!, 'web.yaml')
    await writeFile(spec, 'name: web\nimage: img\nreplicas: 3\n')
    await n1.cli('apply', '-f', spec)
    await waitFor('three slots running, one on each node', async () => {
      const rows = await n3.cli<SlotRow[]>('ps')
      return (
        rows.filter((r) => r.phase === 'running').length === 3 && new Set(rows.map((r) => r.node)).size === 3
      )
    })
    // The node that accepted the apply says so, in its log and as its event.
    expect(n1.hasLog('apply accepted')).toBe(true)

    const events = only(await eventsOn(n3))
    const claim = events.find((e) => e.kind === 'claimed' && e.node === n1.peerId)
    expect(claim, 'node 3 lists no claim made by node 1').toMatchObject({
      nodeName: 'one',
      workload: 'web',
      because: { rule: 'free' },
      text: expect.stringMatching(/^claimed web\/\d: free slot$/),
    })
    expect(events.find((e) => e.kind === 'declared')).toMatchObject({ node: n1.peerId, workload: 'web' })
    for (const d of daemons) {
      expect(events.some((e) => e.kind === 'claimed' && e.node === d.peerId)).toBe(true)
      expect(events.some((e) => e.kind === 'started' && e.node === d.peerId)).toBe(true)
    }
    // One order, whichever node is asked: by hybrid clock, then node, then number.
    const key = (e: Event) => [e.at.wall, e.at.logical, e.node, e.seq] as const
    for (let i = 1; i < events.length; i++) {
      const [a, b] = [key(events[i - 1]!), key(events[i]!)]
      expect(
        a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] + a[3] <= b[2] + b[3]))),
      ).toBe(true)
    }
    const onOne = only(await eventsOn(n1)).map((e) => `${e.node} ${e.seq}`)
    expect(onOne).toEqual(events.map((e) => `${e.node} ${e.seq}`))

    // Following on node 3, then node 2 dies: a survivor takes its slot over and says whose it was.
    const follower = spawn(process.execPath, [GARY_BIN, 'events', '--follow', '--json', '--api', n3.api], {
      env: withoutGarySettings(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const followed: EventView[] = []
    let buffer = ''
    follower.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) if (line.trim() !== '') followed.push(JSON.parse(line) as EventView)
    })
    try {
      await waitFor('the follower to print what was recorded so far', () => followed.length >= events.length)
      const lost = (await n3.cli<SlotRow[]>('ps')).find((r) => r.node === n2.peerId)!.slot
      await n2.kill('SIGKILL')
      const failover = (e: EventView) =>
        'kind' in e && e.kind === 'claimed' && e.slot === lost && e.because?.rule === 'failover'
      await waitFor(
        'the follower to show the failover claim of node 2’s slot',
        () => followed.find(failover),
        {
          timeoutMs: 15_000,
        },
      )
      const seen = followed.find(failover) as Event
      expect(seen.because).toEqual({ rule: 'failover', of: n2.peerId })
      expect(seen.text).toBe(`claimed web/${lost}: failover of two (${n2.peerId.slice(-8)})`)
      expect([n1.peerId, n3.peerId]).toContain(seen.node)
      // The claimer's log says why too (its stdout may reach the test after the event's stream).
      const claimer = seen.node === n1.peerId ? n1 : n3
      await waitFor('the claimer to log the failover of two as the rule of its claim', () =>
        claimer.logs.some(
          (l) => l.msg === 'claimed' && l.slot === lost && String(l.rule).startsWith('failover of two'),
        ),
      )
      // Both survivors saw node 2 die; each says so as its own event.
      for (const d of [n1, n3])
        await waitFor(`${d === n1 ? 'one' : 'three'} to record two dead`, () =>
          followed.some(
            (e) => 'kind' in e && e.kind === 'dead' && e.node === d.peerId && e.member === n2.peerId,
          ),
        )
    } finally {
      follower.kill('SIGTERM')
    }

    // Filters: one workload, one node (by name).
    const byNode = only(await eventsOn(n3, '--node', 'one'))
    expect(byNode.length).toBeGreaterThan(0)
    expect(byNode.every((e) => e.node === n1.peerId || e.member === n1.peerId)).toBe(true)
    const table = await runCli(['events', '--api', n3.api, '--workload', 'web'])
    expect(table.split('\n')[0]!.split(/\s{2,}/)).toEqual(['TIME', 'NODE', 'EVENT', 'WHAT'])
    expect(table).toContain(`one (${n1.peerId.slice(-8)})`)
    // A bad filter is one sentence from the asked node, before any other node is asked.
    await expect(runCli(['events', '--api', n3.api, '--workload', 'Web!'])).rejects.toThrow(
      /bad query: workload/,
    )
    await expect(runCli(['events', '--api', n3.api, '--node', 'nosuchnode'])).rejects.toThrow(
      /no member nosuchnode/,
    )
  }, 120_000)

  it('a graceful stop hands every slot over, then every peer says the node left, not that it died', async () => {
    const [n1, , n3] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess]
    dirs.push(await DaemonProcess.tempDir())
    const n4 = await new DaemonProcess({
      dataDir: dirs[3]!,
      join: [n1.joinAddr],
      args: ['--name', 'four'],
    }).start()
    daemons.push(n4)
    const spec = join(dirs[0]!, 'web.yaml')
    await writeFile(spec, 'name: web\nimage: img\nreplicas: 6\n')
    await n1.cli('apply', '-f', spec)
    const held = await waitFor('six slots running, some on the fourth node', async () => {
      const rows = await n1.cli<SlotRow[]>('ps')
      const mine = rows.filter((r) => r.node === n4.peerId && r.phase === 'running').map((r) => r.slot)
      return rows.filter((r) => r.phase === 'running').length === 6 && mine.length > 0 ? mine : undefined
    })

    await n4.kill('SIGTERM')
    const stopped = n4.logs.find((l) => l.msg === 'stopped')
    expect(stopped, 'the fourth node did not stop cleanly').toBeDefined()
    expect(n4.logs.find((l) => l.msg === 'left the cluster')).toMatchObject({ handedOver: held.length })
    // Each slot it held ran on a survivor before its process ended.
    for (const slot of held) {
      const running = [n1, n3].flatMap((d) =>
        d.logs.filter((l) => l.msg === 'running' && l.workload === 'web' && l.slot === slot),
      )
      expect(
        running.some((l) => (l.time as number) <= (stopped!.time as number)),
        `web/${slot} ran nowhere else before the fourth node exited`,
      ).toBe(true)
    }
    for (const d of [n1, n3]) {
      await waitFor('every peer to log that the fourth node left', () =>
        d.hasLog('member left', { member: n4.peerId }),
      )
      expect(d.hasLog('member dead', { member: n4.peerId }), 'a peer held the fourth node dead').toBe(false)
    }
    const events = only(await eventsOn(n1, '--node', n4.peerId))
    for (const d of [n1, n3])
      expect(events.some((e) => e.kind === 'left' && e.node === d.peerId && e.member === n4.peerId)).toBe(
        true,
      )
    const handed = events.filter((e) => e.kind === 'claimed' && e.because?.rule === 'drain')
    expect(handed.map((e) => e.slot).sort()).toEqual([...held].sort())
    expect(
      (await n1.cli<{ id: string; state: string }[]>('nodes')).find((n) => n.id === n4.peerId)?.state,
    ).toBe('left')
  }, 120_000)
})
