import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { NodeView, WorkloadRow } from '../packages/node/src/api/routes.js'
import { cleanup, DaemonProcess, runCli, waitFor } from '../packages/node/src/testing/index.js'
import { fillUp, mountSmallFs, remount, unmountSmallFs } from './small-fs.js'

/** A stack trace line, which a user should never see for a mistake they can fix. */
const STACK = /^\s+at /m

const names = async (daemon: DaemonProcess) => (await daemon.cli<WorkloadRow[]>('get')).map((row) => row.name)

/** What `gary` printed when it failed. */
async function failure(args: string[]): Promise<{ code: unknown; stdout: string; stderr: string }> {
  try {
    const stdout = await runCli(args)
    return { code: 0, stdout, stderr: '' }
  } catch (err) {
    const { code, stdout, stderr } = err as { code?: unknown; stdout?: string; stderr?: string }
    return { code, stdout: stdout ?? '', stderr: stderr ?? '' }
  }
}

/** Applies a one-workload spec over the API, as the CLI does; resolves with the HTTP status. */
async function apply(api: string, name: string): Promise<number> {
  const response = await fetch(`http://${api}/v1/apply`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: `name: ${name}\nimage: gary/busybox:test\n` }),
  })
  await response.arrayBuffer()
  return response.status
}

/**
 * Issue 15, item 7: an apply is acknowledged only once it is on disk. Probed on a real small file
 * system filled up, and with SIGKILL in the middle of parallel applies.
 */
describe('declarations are acknowledged only when durable', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  const mounts: string[] = []

  afterAll(async () => {
    await Promise.all(daemons.map((daemon) => daemon.kill('SIGKILL')))
    for (const mount of mounts) await unmountSmallFs(mount)
    await cleanup([], dirs)
  })

  const smallFs = async (size: string) => {
    const dir = await DaemonProcess.tempDir('gary-smallfs-')
    dirs.push(dir)
    await mountSmallFs(dir, size)
    mounts.push(dir)
    const dataDir = join(dir, 'data')
    await mkdir(dataDir)
    return { mount: dir, dataDir }
  }

  it('on a full disk, apply fails with one sentence and nothing is applied, lost or left behind', async () => {
    const { mount, dataDir } = await smallFs('1m')
    const a = await new DaemonProcess({ dataDir }).start()
    daemons.push(a)
    const bDir = await DaemonProcess.tempDir()
    dirs.push(bDir)
    const b = await new DaemonProcess({ dataDir: bDir, join: [a.joinAddr] }).start()
    daemons.push(b)
    await waitFor('B to list A alive', async () =>
      (await b.cli<NodeView[]>('nodes')).some((node) => node.id === a.peerId && node.state === 'alive'),
    )
    const spec = (name: string) => {
      const path = join(bDir, `${name}.yaml`)
      return writeFile(path, `name: ${name}\nimage: gary/busybox:test\n`).then(() => path)
    }
    await runCli(['apply', '-f', await spec('kept'), '--api', a.api])
    await waitFor('B to hold kept', async () => (await names(b)).includes('kept'))

    const filler = await fillUp(mount)
    const refused = await failure(['apply', '-f', await spec('lost'), '--api', a.api])
    expect(refused.code).toBe(1)
    expect(refused.stdout).toBe('')
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    expect(refused.stderr).toMatch(
      /^gary: cannot save declarations\.json .*the disk is full.*nothing applied/,
    )
    expect(refused.stderr).not.toMatch(STACK)
    // Not in the store, not spread: both nodes agree on the set without it.
    expect(await names(a)).toEqual(['kept'])
    await waitFor('B to agree with A', async () => (await names(b)).join() === 'kept')
    expect((await readdir(dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([])

    // Room again: the next apply works; a restart with no peer reachable reads both from disk.
    await rm(filler)
    await runCli(['apply', '-f', await spec('later'), '--api', a.api])
    await b.kill('SIGKILL')
    await a.kill('SIGKILL')
    const again = await new DaemonProcess({ dataDir }).start()
    daemons.push(again)
    expect(await names(again)).toEqual(['kept', 'later'])
  })

  it('loses no acknowledged apply when the daemon is SIGKILLed in the middle of parallel applies', async () => {
    const dataDir = await DaemonProcess.tempDir()
    dirs.push(dataDir)
    const acknowledged: string[] = []
    const trials = 8
    for (let trial = 0; trial < trials; trial++) {
      // Alone: after the restart the set can only come from the disk.
      const daemon = await new DaemonProcess({ dataDir }).start()
      daemons.push(daemon)
      const killAfter = 4 + ((trial * 7) % 24)
      let sent = 0
      let acked = 0
      const worker = async () => {
        while (daemon.running) {
          const name = `t${trial}-w${sent++}`
          const status = await apply(daemon.api, name).catch(() => 0)
          if (status !== 200) continue
          acknowledged.push(name)
          if (++acked === killAfter) await daemon.kill('SIGKILL')
        }
      }
      await Promise.all(Array.from({ length: 8 }, worker))
      const restarted = await new DaemonProcess({ dataDir }).start()
      const rows = (await (await fetch(`http://${restarted.api}/v1/workloads`)).json()) as WorkloadRow[]
      const held = new Set(rows.map((row) => row.name))
      await restarted.kill('SIGKILL')
      const lost = acknowledged.filter((name) => !held.has(name))
      expect({ trial, lost }).toEqual({ trial, lost: [] })
    }
    expect(acknowledged.length).toBeGreaterThanOrEqual(trials * 4)
    expect((await readdir(dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([])
  })

  it('a read-only data dir ends the daemon with one sentence', async () => {
    const { mount, dataDir } = await smallFs('1m')
    const first = await new DaemonProcess({ dataDir }).start()
    await first.kill('SIGTERM')
    await remount(mount, 'ro')
    const daemon = new DaemonProcess({ dataDir })
    daemons.push(daemon)
    const refused = await daemon.start().then(
      () => 'started',
      (err: Error) => err.message,
    )
    await remount(mount, 'rw')
    expect(refused).toMatch(/read-only.*give --data-dir a writable directory/)
    expect(refused).not.toMatch(STACK)
    expect(daemon.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('keeps the good entries of a declarations file that holds a bad one', async () => {
    const dataDir = await DaemonProcess.tempDir()
    dirs.push(dataDir)
    const seed = await new DaemonProcess({ dataDir }).start()
    for (const name of ['one', 'two']) expect(await apply(seed.api, name)).toBe(200)
    await seed.kill('SIGTERM')
    const path = join(dataDir, 'declarations.json')
    const file = JSON.parse(await readFile(path, 'utf8')) as { entries: { name: string }[] }
    const [one] = file.entries
    // One entry no codec accepts, one of another shape: neither may cost the others.
    file.entries.push({ ...one!, name: 'Not_A_Name' }, { name: 'three', version: 'x' } as never)
    await writeFile(path, JSON.stringify(file))

    const daemon = await new DaemonProcess({ dataDir }).start()
    daemons.push(daemon)
    expect(await names(daemon)).toEqual(['one', 'two'])
    expect(daemon.logs.some((line) => line.level === 40 && line.refused === 2 && line.kept === 2)).toBe(true)
    // The file is repaired (the bad entries are kept aside for a person to look at).
    const repaired = JSON.parse(await readFile(path, 'utf8')) as { entries: { name: string }[] }
    expect(repaired.entries.map((entry) => entry.name)).toEqual(['one', 'two'])
    expect((await readdir(dataDir)).some((name) => name.startsWith('declarations.json.refused-'))).toBe(true)
  })
})
