import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import { cleanup, DaemonProcess, runCli, waitFor } from '../packages/node/src/testing/index.js'

describe('a cluster closed by a key', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  afterAll(() => cleanup(daemons, dirs))

  it('keeps out a daemon without the key or with a wrong one', async () => {
    const keys = await DaemonProcess.tempDir('gary-keys-')
    dirs.push(keys)
    const clusterKey = join(keys, 'cluster.key')
    const wrongKey = join(keys, 'wrong.key')
    await writeFile(clusterKey, await runCli(['keygen']))
    await writeFile(wrongKey, await runCli(['keygen']))

    const start = async (join: string[], args: string[]) => {
      const dir = await DaemonProcess.tempDir()
      dirs.push(dir)
      const daemon = await new DaemonProcess({ dataDir: dir, join, args }).start()
      daemons.push(daemon)
      return daemon
    }
    const a = await start([], ['--cluster-key', clusterKey])
    const b = await start([a.joinAddr], ['--cluster-key', clusterKey])
    const keyless = await start([a.joinAddr], [])
    const wrong = await start([a.joinAddr], ['--cluster-key', wrongKey])

    // The keyed members find each other; the keyless daemon warns that its cluster is open.
    await waitFor('A and B to see each other', async () => {
      const view = await a.cli<NodeView[]>('nodes')
      return view.some((node) => node.id === b.peerId && node.state === 'alive')
    })
    expect(keyless.logs.some((line) => line.level === 40 && /no cluster key/.test(line.msg))).toBe(true)

    // Both outsiders keep redialling A and fail: wait until each has tried a few heartbeats' worth.
    await waitFor('the outsiders to have tried to join for 3 s', () =>
      [keyless, wrong].every((d) =>
        d.logs.some((line) => line.msg === 'started' && Date.now() - (line.time as number) > 3000),
      ),
    )
    for (const insider of [a, b]) {
      const ids = (await insider.cli<NodeView[]>('nodes')).map((node) => node.id)
      expect(ids).not.toContain(keyless.peerId)
      expect(ids).not.toContain(wrong.peerId)
      expect(insider.hasLog('peer connected', { peer: keyless.peerId })).toBe(false)
      expect(insider.hasLog('peer connected', { peer: wrong.peerId })).toBe(false)
    }
    for (const outsider of [keyless, wrong]) {
      expect((await outsider.cli<NodeView[]>('nodes')).map((node) => node.id)).toEqual([outsider.peerId])
    }
  })

  it('refuses a key file that is not a key, with a clear error', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    const bad = join(dir, 'bad.key')
    await writeFile(bad, 'not a key\n')
    const daemon = new DaemonProcess({ dataDir: dir, args: ['--cluster-key', bad] })
    await expect(daemon.start()).rejects.toThrow(/is not a cluster key: make one with `gary keygen/)
  })
})
