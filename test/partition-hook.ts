import { expect } from 'vitest'
import type { DaemonProcess } from '../packages/node/src/testing/index.js'

/** Turns on a daemon's test hook for partitions (`/v1/test/partition`): `testHooks: HOOKS`. */
export const HOOKS = { partition: true }

/** Makes the daemon refuse every connection with `peers`, and hang up on them; [] heals it. */
export async function partition(daemon: DaemonProcess, peers: string[]): Promise<void> {
  const response = await fetch(`http://${daemon.api}/v1/test/partition`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ peers }),
  })
  expect(response.status).toBe(200)
}
