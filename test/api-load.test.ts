import { afterAll, describe, expect, it } from 'vitest'
import type { NodeView, WorkloadRow } from '../packages/node/src/api/routes.js'
import { cleanup, DaemonProcess, suspicions, waitFor } from '../packages/node/src/testing/index.js'

/** Applies one workload as the CLI does: a 503 (busy) is asked again after its Retry-After. */
async function applyPatiently(api: string, name: string): Promise<{ status: number; busy: number }> {
  let busy = 0
  for (;;) {
    const response = await fetch(`http://${api}/v1/apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `name: ${name}\nimage: gary/busybox:test\n` }),
    })
    await response.arrayBuffer()
    if (response.status !== 503) return { status: response.status, busy }
    busy++
    const after = Number(response.headers.get('retry-after'))
    expect(after).toBeGreaterThan(0)
    await new Promise((resolve) => setTimeout(resolve, after * 1000 * (0.5 + Math.random() / 2)))
  }
}

/**
 * Issue 15, item 8 (the API's half): 200 parallel applies on one node of three made healthy nodes
 * suspect each other. The API bounds its work: the burst is served, and nobody is suspected.
 */
describe('a burst of applies on one node', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  afterAll(() => cleanup(daemons, dirs))

  it('serves 200 parallel applies without healthy nodes suspecting each other', async () => {
    for (let i = 0; i < 3; i++) dirs.push(await DaemonProcess.tempDir())
    const a = await new DaemonProcess({ dataDir: dirs[0]! }).start()
    daemons.push(a)
    for (const dir of dirs.slice(1))
      daemons.push(await new DaemonProcess({ dataDir: dir, join: [a.joinAddr] }).start())
    await waitFor('every node to list every other alive', async () => {
      const views = await Promise.all(daemons.map((d) => d.cli<NodeView[]>('nodes')))
      return views.every((view) => view.length === 3 && view.every((node) => node.state === 'alive'))
    })

    const names = Array.from({ length: 200 }, (_, i) => `burst-${i}`)
    const results = await Promise.all(names.map((name) => applyPatiently(a.api, name)))
    expect(results.filter((result) => result.status !== 200)).toEqual([])
    await waitFor(
      'every node to hold the 200 workloads',
      async () => {
        const held = await Promise.all(
          daemons.map(
            async (d) =>
              ((await (await fetch(`http://${d.api}/v1/workloads`)).json()) as WorkloadRow[]).length,
          ),
        )
        return held.every((count) => count === 200)
      },
      { timeoutMs: 30_000 },
    )
    for (const observer of daemons)
      expect({ observer: observer.peerId, seen: suspicions(observer) }).toEqual({
        observer: observer.peerId,
        seen: [],
      })
    // Each apply is answered once on disk: on a disk shared with two other daemons, seconds.
  }, 180_000)
})
