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
    // Told to join, an outsider that reaches nobody must not run the cluster's work alone.
    const spec = join(keys, 'web.yaml')
    await writeFile(spec, 'name: web\nimage: gary/busybox:test\nreplicas: 2\n')
    for (const outsider of [keyless, wrong]) await runCli(['apply', '-f', spec, '--api', outsider.api])

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
      const view = await outsider.cli<NodeView[]>('nodes')
      expect(view.map((node) => node.id)).toEqual([outsider.peerId])
      expect(view[0]?.joined).toBe(false)
      expect(await runCli(['nodes', '--api', outsider.api])).toContain('this node has not joined')
      expect(outsider.hasLog('view complete: taking new work')).toBe(false)
      expect(outsider.hasLog('claimed')).toBe(false)
    }
    // Each side says, at warn, what went wrong: the outsiders, and the member they dialled.
    const handshakeWarning = (daemon: DaemonProcess) =>
      daemon.logs.some(
        (line) => line.level === 40 && /handshake failed: a different cluster key/.test(line.msg),
      )
    await waitFor('each outsider and A to warn of a cluster key mismatch', () =>
      [keyless, wrong, a].every(handshakeWarning),
    )
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
