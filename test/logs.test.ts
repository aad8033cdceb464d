import { type ChildProcess, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import type { LogItem } from '../packages/node/src/logs/sources.js'
import { GARY_BIN, runCli, waitFor, withoutGarySettings } from '../packages/node/src/testing/index.js'
import { docker } from './cluster-checks.js'
import { dockerCluster } from './docker-cluster.js'
import { dockerForTests } from './docker-required.js'

// `gary logs` end to end: two real daemons on one Docker engine; the CLI always talks to the node
// that does NOT hold the slot, so every line travels over the libp2p log stream and the HTTP relay.

const SPEC = `name: chatter
image: gary/busybox:test
replicas: 2
command: [sh, -c, 'echo "hello from $GARY_SLOT"; while true; do echo tick; sleep 1; done']
`

/** A `gary` process left running (a follow), with what it printed so far and, once it exits, its code. */
interface Running {
  child: ChildProcess
  stdout: string
  stderr: string
  exit?: { code: number | null }
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [GARY_BIN, ...args], {
    env: withoutGarySettings(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const running: Running = { child, stdout: '', stderr: '' }
  child.once('exit', (code) => {
    running.exit = { code }
  })
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    running.stdout += chunk
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    running.stderr += chunk
  })
  return running
}

/** Runs the CLI expecting it to fail; returns its exit code and what it printed on stderr. */
async function failing(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const stdout = await runCli(args)
    throw new Error(`expected \`gary ${args.join(' ')}\` to fail, it printed: ${stdout}`)
  } catch (err) {
    const { code, stderr } = err as { code?: unknown; stderr?: string }
    if (typeof code !== 'number') throw err
    return { code, stderr: stderr ?? '' }
  }
}

const exitOf = async (running: Running) =>
  (await waitFor('the follower to exit', () => running.exit, { timeoutMs: 15_000 })).code

const available = await dockerForTests('logs on Docker')

describe.runIf(available)('gary logs across nodes on a shared Docker engine', () => {
  const cluster = dockerCluster({
    args: () => ['--cpu', '2', '--memory', '2Gi', '--log-level', 'debug'],
  })
  const { daemons } = cluster
  const followers: Running[] = []
  let rows: SlotRow[] = []

  /** The slot's row, and the daemon that does not hold it (the CLI's way in). */
  const slot = (k: number) => {
    const row = rows.find((r) => r.slot === k)!
    const other = daemons.find((d) => d.peerId !== row.node)!
    const holder = daemons.find((d) => d.peerId === row.node)!
    return { row, other, holder }
  }

  beforeAll(async () => {
    const [first] = daemons
    const spec = join(cluster.files, 'chatter.yaml')
    await writeFile(spec, SPEC)
    await first!.cli('apply', '-f', spec)
    rows = await waitFor(
      'both slots running, as both nodes see it',
      async () => {
        const views = await Promise.all(daemons.map((d) => d.cli<SlotRow[]>('ps', 'chatter')))
        const running = views.map((view) => view.filter((r) => r.phase === 'running' && r.node !== null))
        const keys = running.map((view) => JSON.stringify(view.map((r) => [r.slot, r.node, r.containerId])))
        const agreed = keys.every((key) => key === keys[0])
        return agreed && running.every((view) => view.length === 2) ? running[0] : undefined
      },
      { timeoutMs: 45_000 },
    )
  }, 90_000)

  afterAll(() => {
    for (const follower of followers) follower.child.kill('SIGKILL')
  })

  it('prints a slot’s lines from the node that does not hold it', async () => {
    for (const k of [0, 1]) {
      const { other, holder } = slot(k)
      // What the holder served to the asked node: on one shared engine, the asked node could
      // read the container itself, and print the same lines.
      const served = () =>
        holder.logs.filter(
          (l) =>
            l.msg === 'log stream served' &&
            l.peer === other.peerId &&
            l.workload === 'chatter' &&
            l.slot === k &&
            l.follow === false &&
            l.outcome === 'served',
        )
      let mark = 0
      const stdout = await waitFor(`chatter/${k} to have printed its greeting`, async () => {
        mark = served().length
        const out = await runCli(['logs', 'chatter', '--slot', String(k), '--api', other.api])
        return out.includes('hello from') ? out : undefined
      })
      const lines = stdout.trimEnd().split('\n')
      expect(lines[0]).toBe(`hello from ${k}`)
      expect(lines.slice(1).every((line) => line === 'tick')).toBe(true)
      const stream = await waitFor('the holder to log the stream it served', () => served()[mark])
      expect(stream.lines).toBe(lines.length)
    }
    // And from the holder itself, which reads its own engine.
    const { holder } = slot(0)
    const local = await runCli(['logs', 'chatter', '--slot', '0', '--tail', '1', '--api', holder.api])
    expect(local).toMatch(/^(hello from 0|tick)\n$/)
  })

  it('prints every slot, each line tagged, and NDJSON with --json', async () => {
    const stdout = await runCli(['logs', 'chatter', '--api', daemons[0]!.api])
    expect(stdout).toContain('[chatter/0] hello from 0\n')
    expect(stdout).toContain('[chatter/1] hello from 1\n')
    expect(
      stdout
        .trimEnd()
        .split('\n')
        .every((line) => /^\[chatter\/[01]\] /.test(line)),
    ).toBe(true)

    const { other, row } = slot(1)
    const json = await runCli(['logs', 'chatter', '--slot', '1', '--tail', '1', '--json', '--api', other.api])
    const items = json
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as LogItem)
    expect(items).toHaveLength(1)
    expect(items[0]).toMatchObject({ slot: 1, node: row.node, stream: 'stdout' })
  })

  it('--follow streams new lines until Ctrl-C, and the holder stops reading', async () => {
    const { other, holder } = slot(0)
    const follower = start(['logs', 'chatter', '--slot', '0', '--follow', '--tail', '1', '--api', other.api])
    followers.push(follower)
    await waitFor('three lines while following', () => follower.stdout.split('\n').length > 3, {
      timeoutMs: 20_000,
    })
    expect(
      follower.stdout
        .trimEnd()
        .split('\n')
        .slice(1)
        .every((line) => line === 'tick'),
    ).toBe(true)
    follower.child.kill('SIGINT')
    expect(await exitOf(follower)).toBe(0)
    expect(follower.stderr).toBe('')
    await waitFor('the holder to end its read of the container', () =>
      holder.hasLog('log stream served', {
        workload: 'chatter',
        slot: 0,
        follow: true,
        outcome: 'reader gone',
      }),
    )
  })

  it('--follow ends by itself when the container’s process is killed', async () => {
    const { other, holder, row } = slot(1)
    const follower = start(['logs', 'chatter', '--slot', '1', '--follow', '--tail', '0', '--api', other.api])
    followers.push(follower)
    await waitFor('a tick while following', () => follower.stdout.includes('tick\n'), { timeoutMs: 20_000 })
    await docker.stop(row.containerId!, 0)
    expect(await exitOf(follower)).toBe(0)
    expect(follower.stderr).toBe('')
    await waitFor('the holder to end the stream', () =>
      holder.hasLog('log stream served', { workload: 'chatter', slot: 1, follow: true, outcome: 'served' }),
    )
  })

  it('says in one line when the workload or the slot does not exist', async () => {
    const api = daemons[0]!.api
    expect(await failing(['logs', 'nope', '--api', api])).toEqual({
      code: 1,
      stderr: 'gary: no workload named nope\n',
    })
    expect(await failing(['logs', 'chatter', '--slot', '5', '--api', api])).toEqual({
      code: 1,
      stderr: 'gary: chatter/5 runs nowhere (see gary ps)\n',
    })
  })
})
