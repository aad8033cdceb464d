import { describe, expect, test } from 'vitest'
import type { Logger } from '../src/logger.js'
import { type DrainComponents, drainReleased } from '../src/mesh/drain.js'
import type { Confirmation } from '../src/mesh/rotation-service.js'

function drain(own: Promise<boolean>, peers: Promise<Confirmation>) {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = []
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, msg: string): void => {
      lines.push({ level, msg, fields })
    }
  const logger = { debug: at('debug'), info: at('info') } as unknown as Logger
  const asked: string[][] = []
  const components: DrainComponents = {
    self: 'n1',
    logger,
    now: () => 0,
    mesh: { outOfRotation: () => own },
    confirm: (_query, ids) => {
      asked.push([...ids])
      return peers
    },
    peers: () => ['n2', 'n3'],
    live: () => true,
    timeoutMs: 10_000,
  }
  return { components, lines, asked }
}

const slot = { workload: 'web', slot: 0, container: 'c0' }

describe('draining a released slot', () => {
  test('ends once its own mesh and every peer asked have taken the slot out', async () => {
    let ownOut = (_: boolean) => {}
    let peersOut = (_: Confirmation) => {}
    const { components, lines, asked } = drain(
      new Promise((resolve) => {
        ownOut = resolve
      }),
      new Promise((resolve) => {
        peersOut = resolve
      }),
    )
    let done = false
    const draining = drainReleased(components, slot, new AbortController().signal).then(() => {
      done = true
    })
    expect(asked).toEqual([['n2', 'n3']])
    peersOut({ confirmed: ['n2', 'n3'], unconfirmed: [], gone: [] })
    await Promise.resolve()
    expect(done).toBe(false)
    ownOut(true)
    await draining
    expect(lines.map((line) => [line.level, line.msg, line.fields.confirmed])).toEqual([
      ['info', 'released slot out of every mesh’s rotation', 2],
    ])
  })

  test('says which meshes could not confirm, and why, when it ends without them', async () => {
    const { components, lines } = drain(
      Promise.resolve(false),
      Promise.resolve({
        confirmed: ['n2'],
        unconfirmed: [{ peer: 'n3', reason: 'no answer within 10000 ms' }],
        gone: [],
      }),
    )
    await drainReleased(components, slot, new AbortController().signal)
    expect(lines).toEqual([
      {
        level: 'info',
        msg: 'released slot stopped before every mesh said it no longer sends it connections',
        fields: {
          workload: 'web',
          slot: 0,
          ms: 0,
          confirmed: 1,
          unconfirmed: [
            'this node: its own mesh still sends connections to the slot',
            'n3: no answer within 10000 ms',
          ],
        },
      },
    ])
  })
})
