import { encodeMemberStates, encodeNodeState, type NodeState } from '@gary/protocol'
import { expect, test } from 'vitest'
import { stateBytes, statesBytes } from '../src/sizes.js'

const state = (node: string, promises: number): NodeState => ({
  node,
  incarnation: 3,
  seq: 7,
  addrs: ['/ip4/10.0.0.1/tcp/4001'],
  labels: { zone: 'é-north' },
  capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
  draining: false,
  promises: Array.from({ length: promises }, (_, slot) => ({
    workload: 'web',
    slot,
    generation: 'g1',
    phase: 'running' as const,
    since: { wall: 1, logical: 0 },
    ready: true,
    endpoints: [],
  })),
  refusals: [],
})

test('message sizes counted without encoding are the encoders’ sizes', () => {
  const states = [state('a', 0), state('b', 3), state('c', 10)]
  for (const s of states) expect(stateBytes(s)).toBe(encodeNodeState(s).length)
  for (const list of [[], states.slice(0, 1), states])
    expect(statesBytes(list)).toBe(encodeMemberStates(list).length)
})
