import { readFileSync } from 'node:fs'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import type { SlotRow } from '../src/api/slot-rows.js'
import { PAGE_FILE } from '../src/ui/routes.js'

// The live page's events list, derived from consecutive snapshots: the page's own code (its first
// script block, which touches no DOM), run on snapshot sequences a real cluster sends.

interface Snap {
  at: number
  nodes: { id: string; name?: string; state: string; draining: boolean }[]
  workloads: { name: string }[]
  slots: Pick<SlotRow, 'workload' | 'slot' | 'node' | 'phase'>[]
}
type Changes = (
  before: Snap | null,
  snap: Snap,
  holders: Map<string, string>,
) => { kind: string; text: string }[]

const script = /<script>([\s\S]*?)<\/script>/.exec(readFileSync(PAGE_FILE, 'utf8'))?.[1]
const changes = runInNewContext(`${script}\n;changes`, {}) as Changes

let at = 0
const snap = (states: Record<string, string>, slots: [number, string | null, string][]): Snap => ({
  at: ++at,
  nodes: Object.entries(states).map(([id, state]) => ({ id, name: id, state, draining: false })),
  workloads: [{ name: 'web' }],
  slots: slots.map(([slot, node, phase]) => ({
    workload: 'web',
    slot,
    node,
    phase: phase as SlotRow['phase'],
  })),
})

/** The kinds the page lists for a sequence of snapshots, the first one as the page's first. */
function kinds(sequence: Snap[]): string[][] {
  const holders = new Map<string, string>()
  return sequence.map((current, i) =>
    changes(sequence[i - 1] ?? null, current, holders).map((change) => change.kind),
  )
}

const running: [number, string | null, string][] = [
  [0, 'a', 'running'],
  [1, 'c', 'running'],
]

describe('the live page’s events', () => {
  it('lists a slot lost with its node as moved when it runs again, though the page opened just before', async () => {
    // The page's first snapshot is all it saw before the death; the next one has the node dead
    // and its slot held by nobody (a dead member's promises leave the view), the third has it back.
    const listed = kinds([
      snap({ a: 'alive', b: 'alive', c: 'alive' }, running),
      snap({ a: 'alive', b: 'alive', c: 'dead' }, [[0, 'a', 'running']]),
      snap({ a: 'alive', b: 'alive', c: 'dead' }, [
        [0, 'a', 'running'],
        [1, 'b', 'claimed'],
      ]),
    ])
    expect(listed).toEqual([[], ['dead', 'lost'], ['moved']])
    const text = changes(
      snap({ b: 'alive', c: 'dead' }, []),
      snap({ b: 'alive', c: 'dead' }, [[1, 'b', 'running']]),
      new Map([['web/1', 'c']]),
    )
    expect(text).toEqual([{ kind: 'moved', text: 'web/1 from c to b (running)' }])
  })

  it('lists a slot taken over in the snapshot that shows its node dead as moved', async () => {
    const listed = kinds([
      snap({ a: 'alive', c: 'alive' }, running),
      snap({ a: 'alive', c: 'dead' }, [
        [0, 'a', 'running'],
        [1, 'a', 'claimed'],
      ]),
    ])
    expect(listed).toEqual([[], ['dead', 'moved']])
  })

  it('lists a slot that comes back on its own node, or a new one, by its phase, not as moved', async () => {
    const listed = kinds([
      snap({ a: 'alive' }, [[0, 'a', 'running']]),
      snap({ a: 'alive' }, []),
      snap({ a: 'alive' }, [
        [0, 'a', 'claimed'],
        [1, 'a', 'claimed'],
      ]),
    ])
    expect(listed).toEqual([[], ['lost'], ['claimed', 'claimed']])
  })
})
