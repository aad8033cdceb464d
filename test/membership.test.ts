import { afterAll, describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/src/testing/index.js'

const HEARTBEAT_MS = 1000
const SUSPECT_AFTER_MS = 2000
const DEAD_AFTER_MS = 3000
/** How late a status change may be logged on a loaded 2-core machine: the sweep is every 100 ms. */
const LATE_MS = 1000

/** Each node's view, as `gary nodes --json` prints it. */
const viewOf = (daemon: DaemonProcess) => daemon.cli<NodeView[]>('nodes')

async function allSee(
  daemons: DaemonProcess[],
  expected: Record<string, NodeView['state']>,
): Promise<boolean> {
  for (const daemon of daemons) {
    const view = await viewOf(daemon)
    for (const [id, state] of Object.entries(expected)) {
      if (view.find((node) => node.id === id)?.state !== state) return false
    }
  }
  return true
}

describe('three daemons on loopback', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  afterAll(() => cleanup(daemons, dirs))

  it('find each other through one address, see a killed node die, and welcome it back', async () => {
    for (let i = 0; i < 3; i++) dirs.push(await DaemonProcess.tempDir())
    const labels = ['zone=a', 'zone=b', 'zone=c']
    const a = await new DaemonProcess({
      dataDir: dirs[0]!,
      args: ['--label', labels[0]!, '--cpu', '2'],
    }).start()
    daemons.push(a)
    const b = await new DaemonProcess({
      dataDir: dirs[1]!,
      join: [a.joinAddr],
      args: ['--label', labels[1]!],
    }).start()
    const c = await new DaemonProcess({
      dataDir: dirs[2]!,
      join: [a.joinAddr],
      args: ['--label', labels[2]!],
    }).start()
    daemons.push(b, c)
    const ids = [a.peerId, b.peerId, c.peerId]
    const allAlive = Object.fromEntries(ids.map((id) => [id, 'alive' as const]))

    await waitFor('every node to list all three alive', () => allSee(daemons, allAlive), { timeoutMs: 5000 })

    // Each node reports the others' labels and capacity as they promised them, and marks itself.
    const viewFromB = await viewOf(b)
    expect(viewFromB.map((node) => node.id).sort()).toEqual([...ids].sort())
    expect(viewFromB.find((node) => node.id === a.peerId)).toMatchObject({
      self: false,
      labels: { zone: 'a' },
      capacity: { cpuMillis: 2000 },
    })
    expect(viewFromB.find((node) => node.id === b.peerId)).toMatchObject({ self: true, state: 'alive' })
    expect(viewFromB.every((node) => node.addrs.length > 0 && node.lastSeenMs >= 0)).toBe(true)

    // SIGSTOP B: its connections stay open but its process falls silent, as a hung one would. Its
    // machine still answers a knock (its kernel accepts a TCP connection), so fast detection
    // accuses nobody: heartbeat age alone makes it suspect, then dead; SIGCONT brings it back.
    // Times are read from the daemons' own log lines: polling the CLI adds its start-up to every
    // reading.
    const marks = [a.logs.length, c.logs.length]
    process.kill(b.pid!, 'SIGSTOP')
    const stoppedAt = Date.now()
    /** When each of `daemons` logged `msg` about `member` since its mark. */
    const loggedAt = (watchers: DaemonProcess[], msg: string, member: string) =>
      watchers.map(
        (d, i) => d.logs.slice(marks[i]).find((l) => l.msg === msg && l.member === member)?.time as number,
      )
    const logged = (msg: string) => loggedAt([a, c], msg, b.peerId).every((t) => t !== undefined)
    await waitFor('A and C to suspect B', () => logged('member suspect'), { timeoutMs: DEAD_AFTER_MS + 1000 })
    await waitFor('A and C to mark B dead', () => logged('member dead'), { timeoutMs: DEAD_AFTER_MS + 2000 })
    expect(await allSee([a, c], { [b.peerId]: 'dead' })).toBe(true)
    for (const [i, watcher] of [a, c].entries())
      expect(
        watcher.logs.slice(marks[i]).filter((l) => l.msg === 'member silent: accusing'),
        'a stopped process on a machine that answers is not accused of silence',
      ).toEqual([])
    // Suspect and dead count from the last heartbeat heard, which came at most one interval
    // before the stop; the sweep that finds them runs every 100 ms.
    for (const at of loggedAt([a, c], 'member suspect', b.peerId)) {
      expect(at - stoppedAt, 'B suspect too early').toBeGreaterThanOrEqual(SUSPECT_AFTER_MS - HEARTBEAT_MS)
      expect(at - stoppedAt, 'B suspect too late').toBeLessThanOrEqual(SUSPECT_AFTER_MS + LATE_MS)
    }
    for (const at of loggedAt([a, c], 'member dead', b.peerId)) {
      expect(at - stoppedAt, 'B dead too early').toBeGreaterThanOrEqual(DEAD_AFTER_MS - HEARTBEAT_MS)
      expect(at - stoppedAt, 'B dead too late').toBeLessThanOrEqual(DEAD_AFTER_MS + LATE_MS)
    }
    process.kill(b.pid!, 'SIGCONT')
    await waitFor('B to be alive again everywhere', () => allSee(daemons, allAlive), { timeoutMs: 5000 })

    // SIGKILL C: its connections close and the redial is refused, so A and B mark it dead well
    // before heartbeat age would.
    marks.splice(0, 2, a.logs.length, b.logs.length)
    const killedAt = Date.now()
    await c.kill('SIGKILL')
    await waitFor('A and B to mark C dead', () => allSee([a, b], { [c.peerId]: 'dead' }), {
      timeoutMs: DEAD_AFTER_MS + 1000,
    })
    for (const at of loggedAt([a, b], 'member dead', c.peerId))
      expect(at - killedAt, 'C dead too late').toBeLessThan(SUSPECT_AFTER_MS - HEARTBEAT_MS)

    // Restarted on the same data dir: the same peer id, back alive everywhere.
    await c.start()
    expect(c.peerId).toBe(ids[2])
    await waitFor('C to be alive again everywhere', () => allSee(daemons, allAlive), { timeoutMs: 5000 })
    expect(a.hasLog('member back', { member: c.peerId })).toBe(true)
  })
})
