import {
  checkMemberNote,
  decodeMemberStates,
  encodeMemberNote,
  encodeStatesWithin,
  envelopeJson,
  MismatchTrigger,
  type NodeState,
} from '@gary/protocol'
import { describe, expect, test } from 'vitest'
import { SelfState } from '../src/membership/self-state.js'
import { shuffle } from '../src/membership/shuffle.js'

const content = {
  addrs: [],
  labels: { zone: 'a' },
  capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 },
  draining: false,
  promises: [],
  refusals: [],
}

const stateOf = (node: string): NodeState => ({ node, incarnation: 1, seq: 1, ...content })

describe('MismatchTrigger', () => {
  test('syncs with a peer once its digest has differed for the interval, then waits an interval', () => {
    const trigger = new MismatchTrigger(1000)
    expect(trigger.check('p', false, 0)).toBe(false)
    expect(trigger.check('p', false, 999)).toBe(false)
    expect(trigger.check('p', false, 1000)).toBe(true)
    expect(trigger.check('p', false, 1500)).toBe(false)
    expect(trigger.check('p', false, 2000)).toBe(true)
  })

  test('a matching digest restarts the count', () => {
    const trigger = new MismatchTrigger(1000)
    trigger.check('p', false, 0)
    expect(trigger.check('p', true, 900)).toBe(false)
    expect(trigger.check('p', false, 1000)).toBe(false)
    expect(trigger.check('p', false, 2000)).toBe(true)
  })

  test('at most one sync per interval, whichever the peer', () => {
    const trigger = new MismatchTrigger(1000)
    trigger.check('p', false, 0)
    trigger.check('q', false, 0)
    expect(trigger.check('p', false, 1000)).toBe(true)
    expect(trigger.check('q', false, 1001)).toBe(false)
    expect(trigger.check('q', false, 2000)).toBe(true)
  })

  test('a forgotten peer starts counting again', () => {
    const trigger = new MismatchTrigger(1000)
    trigger.check('p', false, 0)
    trigger.forget('p')
    expect(trigger.check('p', false, 1000)).toBe(false)
    expect(trigger.check('p', false, 2000)).toBe(true)
  })
})

describe('checkMemberNote', () => {
  const note = (kind: 'alive' | 'down' | 'left', node: string) =>
    encodeMemberNote({ kind, node, incarnation: 1, seq: 2 })

  test('a beacon must be signed by the member it names', () => {
    expect(checkMemberNote('a', note('alive', 'a'))).toMatchObject({ ok: true, note: { kind: 'alive' } })
    expect(checkMemberNote('b', note('alive', 'a'))).toEqual({
      ok: false,
      reason: 'beacon signed by another node',
    })
  })

  test('only a member may say that it leaves', () => {
    expect(checkMemberNote('a', note('left', 'a'))).toMatchObject({ ok: true, note: { kind: 'left' } })
    expect(checkMemberNote('b', note('left', 'a'))).toEqual({
      ok: false,
      reason: 'leave signed by another node',
    })
  })

  test('a down note may come from any witness', () => {
    expect(checkMemberNote('w', note('down', 'a'))).toEqual({
      ok: true,
      note: { kind: 'down', node: 'a', incarnation: 1, seq: 2 },
    })
  })

  test('garbage and unknown kinds are refused', () => {
    expect(checkMemberNote('a', new TextEncoder().encode('garbage')).ok).toBe(false)
    const odd = new TextEncoder().encode(
      JSON.stringify({ v: 1, t: 'member', b: { kind: 'gone', node: 'a', incarnation: 1, seq: 1 } }),
    )
    expect(checkMemberNote('a', odd).ok).toBe(false)
  })
})

describe('encodeStatesWithin', () => {
  const states = Array.from({ length: 16 }, (_, i) => stateOf(`node-${i}`))

  test('all the states when they fit', () => {
    const decoded = decodeMemberStates(encodeStatesWithin(states, 1 << 20))
    expect(decoded.ok && decoded.value).toEqual(states)
  })

  test('a prefix, halved until its JSON fits, when they do not', () => {
    // The limit bounds the JSON, deflated or not: what the asker's decoder inflates to.
    const whole = envelopeJson('member-states', states).byteLength
    const bytes = encodeStatesWithin(states, Math.floor(whole / 3))
    const decoded = decodeMemberStates(bytes)
    expect(decoded.ok && decoded.value).toEqual(states.slice(0, 4))
    expect(envelopeJson('member-states', states.slice(0, 4)).byteLength).toBeLessThanOrEqual(whole / 3)
  })

  test('none when not even one fits', () => {
    const decoded = decodeMemberStates(encodeStatesWithin(states, 10))
    expect(decoded.ok && decoded.value).toEqual([])
  })
})

describe('shuffle', () => {
  test('keeps every item and leaves the input alone', () => {
    const items = [1, 2, 3, 4, 5, 6]
    const shuffled = shuffle(items)
    expect([...shuffled].sort()).toEqual(items)
    expect(items).toEqual([1, 2, 3, 4, 5, 6])
  })

  test('puts any item first, so that no member gets every dial', () => {
    const firsts = new Set<number>()
    let seed = 1
    const random = () => {
      seed = (seed * 16807) % 2147483647
      return seed / 2147483647
    }
    for (let i = 0; i < 200; i++) firsts.add(shuffle([1, 2, 3, 4], random)[0]!)
    expect([...firsts].sort()).toEqual([1, 2, 3, 4])
  })
})

describe('SelfState.refresh', () => {
  test('bumps seq without a content change, and a later change still counts', () => {
    const self = new SelfState('me', 3, content)
    self.refresh()
    expect(self.current).toMatchObject({ node: 'me', incarnation: 3, seq: 2, labels: { zone: 'a' } })
    expect(self.update({ labels: { zone: 'a' } })).toBe(false)
    expect(self.update({ draining: true })).toBe(true)
    expect(self.current.seq).toBe(3)
  })

  test('a field given again unchanged is no change; an array changed in place is one', () => {
    const self = new SelfState('me', 3, { ...content, addrs: ['/ip4/10.0.0.1/tcp/1'] })
    expect(self.update({ draining: false, name: undefined })).toBe(false)
    expect(self.current.seq).toBe(1)
    const addrs = self.current.addrs
    addrs.push('/ip4/10.0.0.2/tcp/1')
    expect(self.update({ addrs })).toBe(true)
    expect(self.current.seq).toBe(2)
  })
})
