import type { Workload } from '@gary/protocol'
import { describe, expect, it } from 'vitest'
import type { NodeView } from '../src/api/routes.js'
import type { SlotRow } from '../src/api/slot-rows.js'
import { type FeedSource, feed } from '../src/ui/feed.js'

const node = (id: string): NodeView => ({
  id,
  self: id === 'a',
  state: 'alive',
  incarnation: 1,
  seq: 1,
  addrs: [],
  labels: {},
  capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
  draining: false,
  lastSeenMs: 0,
})
const slot = (n: number, on: string | null, phase: SlotRow['phase'] = 'running'): SlotRow => ({
  workload: 'web',
  slot: n,
  node: on,
  phase,
  ready: phase === 'running',
  containerId: null,
  endpoints: [],
  generation: 'g',
  since: null,
  ageMs: 0,
})
const source: FeedSource = {
  peerId: 'a',
  nodes: () => [node('a'), node('b')],
  slots: () => [slot(0, 'a'), slot(1, 'a'), slot(2, 'b'), slot(3, null, 'unschedulable')],
  declarations: {
    store: {
      live: () =>
        [
          {
            name: 'web',
            image: 'x',
            mode: 'replicated',
            replicas: 4,
            resources: { cpuMillis: 250, memoryBytes: 64 * 2 ** 20 },
          },
        ] as unknown as Workload[],
    },
  },
}

describe('the live page feed', () => {
  it('sends a snapshot with each node’s use, then the cluster’s events as they come, until aborted', async () => {
    const abort = new AbortController()
    async function* events() {
      yield { at: 1, kind: 'claimed', node: 'b', workload: 'web', slot: 2, reason: 'free slot' }
      yield { at: 2, kind: 'dead', node: 'c' }
    }
    const items = feed(
      { intervalMs: 20 },
      { source, figures: async () => ({ claims: 3 }), events },
      abort.signal,
    )
    const seen: { event?: string; data: unknown }[] = []
    for await (const item of items) {
      seen.push(item)
      if (seen.filter((i) => i.event === 'snapshot').length === 2) abort.abort()
    }
    const first = seen[0]!
    expect(first.event).toBe('snapshot')
    const snap = first.data as { nodes: (NodeView & { used: { cpuMillis: number } })[]; figures: object }
    expect(snap.nodes.find((n) => n.id === 'a')?.used.cpuMillis).toBe(500)
    expect(snap.nodes.find((n) => n.id === 'b')?.used.cpuMillis).toBe(250)
    expect(snap.figures).toEqual({ claims: 3 })
    expect(
      seen.filter((i) => i.event === 'cluster-event').map((i) => (i.data as { kind: string }).kind),
    ).toEqual(['claimed', 'dead'])
  })
})
