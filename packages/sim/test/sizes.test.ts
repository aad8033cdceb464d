import { encodeMemberStates, encodeMemberVersions, encodeNodeState, type NodeState } from '@gary/protocol'
import { expect, test } from 'vitest'
import { stateBytes, statesBytes, versionsBytes } from '../src/sizes.js'

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

test('a member sync request counted without encoding is the encoder’s size', () => {
  const versions = [
    { node: 'n00001', incarnation: 1, seq: 9 },
    { node: 'n00002', incarnation: 12, seq: 345, dead: true },
    { node: 'n00003', incarnation: 7, seq: 1_234_567 },
  ]
  for (const list of [[], versions.slice(0, 1), versions])
    expect(versionsBytes(list)).toBe(encodeMemberVersions(list).length)
})
