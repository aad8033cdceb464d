import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { HLC_ZERO, type Hlc, HlcSchema, hlcCompare, hlcReceive, hlcTick } from '../src/index.js'
import { record } from './arbitraries.js'

// Wall readings from a clock that jumps forward, stalls and goes backwards. Kept below 2^40 so
// that logical counters cannot approach Number.MAX_SAFE_INTEGER.
const wall = fc.oneof(fc.nat(20), fc.nat(2 ** 40))
const hlc: fc.Arbitrary<Hlc> = record({ wall, logical: fc.nat(1000) })

type Event = { kind: 'tick'; now: number } | { kind: 'receive'; now: number; remote: Hlc }
const event: fc.Arbitrary<Event> = fc.oneof(
  record({ kind: fc.constant('tick' as const), now: wall }),
  record({ kind: fc.constant('receive' as const), now: wall, remote: hlc }),
)

const after = (a: Hlc, b: Hlc) =>
  expect(hlcCompare(a, b), `${JSON.stringify(a)} after ${JSON.stringify(b)}`).toBe(1)

describe('hlcTick', () => {
  test('is strictly increasing for any sequence of wall readings, backwards ones included', () => {
    fc.assert(
      fc.property(hlc, fc.array(wall, { maxLength: 50 }), (start, readings) => {
        let last = start
        for (const now of readings) {
          const next = hlcTick(last, now)
          after(next, last)
          expect(next.wall).toBeGreaterThanOrEqual(now)
          last = next
        }
      }),
    )
  })

  test('follows the wall clock while it moves forward', () => {
    expect(hlcTick(HLC_ZERO, 5)).toEqual({ wall: 5, logical: 0 })
    expect(hlcTick({ wall: 5, logical: 3 }, 6)).toEqual({ wall: 6, logical: 0 })
    expect(hlcTick({ wall: 5, logical: 3 }, 5)).toEqual({ wall: 5, logical: 4 })
    expect(hlcTick({ wall: 5, logical: 3 }, 1)).toEqual({ wall: 5, logical: 4 })
  })
})

describe('hlcReceive', () => {
  test('is after both the local clock and the remote timestamp, and not before the wall clock', () => {
    fc.assert(
      fc.property(hlc, hlc, wall, (local, remote, now) => {
        const next = hlcReceive(local, remote, now)
        after(next, local)
        after(next, remote)
        expect(next.wall).toBe(Math.max(local.wall, remote.wall, now))
        expect(HlcSchema.safeParse(next).success).toBe(true)
      }),
    )
  })

  test('a remote timestamp ahead of our wall clock is adopted, then ticks stay after it', () => {
    const received = hlcReceive({ wall: 10, logical: 0 }, { wall: 50, logical: 7 }, 12)
    expect(received).toEqual({ wall: 50, logical: 8 })
    expect(hlcTick(received, 13)).toEqual({ wall: 50, logical: 9 })
  })
})

describe('hybrid logical clock', () => {
  test('any interleaving of local events and receives is strictly increasing', () => {
    fc.assert(
      fc.property(hlc, fc.array(event, { maxLength: 50 }), (start, events) => {
        let last = start
        for (const e of events) {
          const next = e.kind === 'tick' ? hlcTick(last, e.now) : hlcReceive(last, e.remote, e.now)
          after(next, last)
          if (e.kind === 'receive') after(next, e.remote)
          last = next
        }
      }),
    )
  })

  test('messages between two nodes with skewed clocks keep causal order', () => {
    // Each step is a send from one node to the other: the receiver's stamp must follow the send.
    const step = record({ from: fc.constantFrom(0, 1), sendAt: fc.nat(50), receiveAt: fc.nat(50) })
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.array(step, { maxLength: 40 }), (skew, steps) => {
        const clocks: [Hlc, Hlc] = [HLC_ZERO, HLC_ZERO]
        let elapsed = 2000
        for (const { from, sendAt, receiveAt } of steps) {
          elapsed += sendAt
          const reading = (node: 0 | 1) => elapsed + (node === 1 ? skew : 0)
          const to = from === 0 ? 1 : 0
          const sent = hlcTick(clocks[from], reading(from))
          clocks[from] = sent
          elapsed += receiveAt
          const received = hlcReceive(clocks[to], sent, reading(to))
          after(received, sent)
          clocks[to] = received
        }
      }),
    )
  })

  test('hlcCompare is a total order', () => {
    fc.assert(
      fc.property(hlc, hlc, hlc, (a, b, c) => {
        expect(Math.sign(hlcCompare(a, b)) + Math.sign(hlcCompare(b, a))).toBe(0)
        expect(hlcCompare(a, b) === 0).toBe(a.wall === b.wall && a.logical === b.logical)
        if (hlcCompare(a, b) <= 0 && hlcCompare(b, c) <= 0) expect(hlcCompare(a, c)).toBeLessThanOrEqual(0)
      }),
    )
  })
})
