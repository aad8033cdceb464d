import { afterAll, beforeAll } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/src/testing/index.js'

/**
 * Two real daemons for one `describe` (the fake runtime, a data dir each): B joins A and lists it
 * alive before the tests; after them every daemon in `daemons` is stopped and every dir in `dirs`
 * removed, so a test may add its own. `a` and `b` are set once the `beforeAll` ran. Call it at
 * the top of the `describe`.
 */
export function daemonPair() {
  const pair = {
    a: undefined as unknown as DaemonProcess,
    b: undefined as unknown as DaemonProcess,
    daemons: [] as DaemonProcess[],
    dirs: [] as string[],
  }
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) pair.dirs.push(await DaemonProcess.tempDir())
    pair.a = await new DaemonProcess({ dataDir: pair.dirs[0]! }).start()
    pair.daemons.push(pair.a)
    pair.b = await new DaemonProcess({ dataDir: pair.dirs[1]!, join: [pair.a.joinAddr] }).start()
    pair.daemons.push(pair.b)
    const { a, b } = pair
    await waitFor('B to list A alive', async () =>
      (await b.cli<NodeView[]>('nodes')).some((node) => node.id === a.peerId && node.state === 'alive'),
    )
  })
  afterAll(() => cleanup(pair.daemons, pair.dirs))
  return pair
}
