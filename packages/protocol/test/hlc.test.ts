import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  HLC_ZERO,
  type Hlc,
  HlcSchema,
  hlcCompare,
  hlcReceive,
  hlcTick,
  isHlc,
  MAX_HLC_LOGICAL,
  MAX_HLC_WALL,
} from '../src/index.js'
import { record } from './arbitraries.js'

// Wall readings from a clock that jumps forward, stalls and goes backwards, with the codec's
// edges: a clock at the end of Date's range, and logical counters about to carry.
const wall = fc.oneof(fc.nat(20), fc.nat(2 ** 40), fc.constantFrom(MAX_HLC_WALL - 1, MAX_HLC_WALL))
const logical = fc.oneof(fc.nat(1000), fc.constantFrom(MAX_HLC_LOGICAL - 1, MAX_HLC_LOGICAL))
const hlc: fc.Arbitrary<Hlc> = record({ wall, logical })
const maxOffset = fc.oneof(fc.constant(DEFAULT_MAX_CLOCK_OFFSET_MS), fc.nat(3_600_000))

/** What a hostile peer or a damaged file can put in a number that a schema-less reader would take. */
const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    Number.MAX_SAFE_INTEGER,
    2 ** 53,
    MAX_HLC_WALL + 1,
    MAX_HLC_LOGICAL + 1,
    -1,
    0.5,
    Number.MAX_VALUE,
    Number.POSITIVE_INFINITY,
    Number.NaN,
  ),
)
/** Any timestamp a codec might ever let through, and many it must not. */
const hostileHlc: fc.Arbitrary<Hlc> = fc.oneof(
  hlc,
  record({ wall: hostileNumber, logical: hostileNumber }),
  record({ wall, logical: hostileNumber }),
)
/** Wall clock readings, wrong ones included (a clock reset to 0, one past any date). */
const reading = fc.oneof(wall, hostileNumber)

/** The saturated timestamp: the only one without a successor. */
const SATURATED: Hlc = { wall: MAX_HLC_WALL, logical: MAX_HLC_LOGICAL }
const saturated = (t: Hlc) => hlcCompare(t, SATURATED) === 0

const after = (a: Hlc, b: Hlc) =>
  expect(hlcCompare(a, b), `${JSON.stringify(a)} after ${JSON.stringify(b)}`).toBe(1)
const valid = (t: Hlc) => expect(HlcSchema.safeParse(t).success, `${JSON.stringify(t)} is valid`).toBe(true)

describe('hlcTick', () => {
  test('is strictly increasing for any sequence of wall readings, backwards and wrong ones included', () => {
    fc.assert(
      fc.property(hlc, fc.array(reading, { maxLength: 50 }), (start, readings) => {
        let last = start
        for (const now of readings) {
          const next = hlcTick(last, now)
          valid(next)
          if (!saturated(last)) after(next, last)
          if (Number.isFinite(now) && now <= MAX_HLC_WALL)
            expect(next.wall).toBeGreaterThanOrEqual(Math.floor(now))
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

  test('a full logical counter carries into the next millisecond, within the codec', () => {
    expect(hlcTick({ wall: 5, logical: MAX_HLC_LOGICAL }, 5)).toEqual({ wall: 6, logical: 0 })
    expect(hlcTick(SATURATED, MAX_HLC_WALL)).toEqual(SATURATED)
    expect(hlcTick(HLC_ZERO, Number.MAX_SAFE_INTEGER)).toEqual({ wall: MAX_HLC_WALL, logical: 0 })
  })
})

describe('hlcReceive', () => {
  test('an accepted time is after both clocks, not before the wall clock, and valid', () => {
    fc.assert(
      fc.property(hlc, hlc, wall, maxOffset, (local, remote, now, bound) => {
        const received = hlcReceive(local, remote, now, bound)
        if (!received.ok) return
        valid(received.hlc)
        if (!saturated(local)) after(received.hlc, local)
        if (!saturated(remote)) after(received.hlc, remote)
        expect(received.hlc.wall).toBeGreaterThanOrEqual(Math.max(local.wall, remote.wall, now))
      }),
    )
  })

  test('over hostile values it never throws, never leaves the codec and never moves the clock past the bound', () => {
    fc.assert(
      fc.property(hlc, hostileHlc, reading, maxOffset, (local, remote, now, bound) => {
        const received = hlcReceive(local, remote, now, bound)
        if (!received.ok) {
          // Refused: ahead of the bound, or out of the codec's range.
          const ahead =
            !isHlc(remote) || remote.wall - Math.min(Math.max(Math.floor(now), 0), MAX_HLC_WALL) >= bound
          expect(ahead || Number.isNaN(now)).toBe(true)
          return
        }
        valid(received.hlc)
        expect(isHlc(remote)).toBe(true)
        // No further than a local event would take it, or the bound.
        const clockNow = now > 0 ? Math.min(Math.floor(now), MAX_HLC_WALL) : 0
        expect(received.hlc.wall).toBeLessThanOrEqual(Math.max(hlcTick(local, now).wall, clockNow + bound))
      }),
    )
  })

  test('a peer cannot ratchet the clock: over any run of receives it stays within the bound of the wall clock', () => {
    const step = record({
      elapsed: fc.oneof(fc.constant(0), fc.nat(5_000)),
      remote: hostileHlc,
      aheadBy: fc.oneof(fc.integer({ min: -2, max: 2 }), fc.integer({ min: -10_000, max: 10_000 })),
      aimedLogical: logical,
    })
    fc.assert(
      fc.property(fc.nat(2 ** 40), fc.array(step, { maxLength: 60 }), maxOffset, (start, steps, bound) => {
        let now = start
        let clock = hlcTick(HLC_ZERO, now)
        for (const { elapsed, remote, aheadBy, aimedLogical } of steps) {
          now += elapsed
          // Half of the remotes are aimed at the bound itself, where a carry could push past it.
          const aimed = { wall: now + bound + aheadBy, logical: aimedLogical }
          for (const candidate of [remote, aimed]) {
            const received = hlcReceive(clock, candidate, now, bound)
            if (received.ok) clock = received.hlc
            clock = hlcTick(clock, now)
            valid(clock)
            // One millisecond past the bound at most: a tick's carry after a remote filled the counter.
            expect(clock.wall).toBeLessThanOrEqual(Math.max(start, now + bound) + 1)
          }
        }
      }),
    )
  })

  test('a peer that fills the logical counter at the bound cannot walk the clock forward a carry at a time', () => {
    const now = 1_000_000
    let clock = hlcTick(HLC_ZERO, now)
    for (let step = 0; step < 10; step++) {
      // Just where the clock is, with the counter about to carry: the next tick takes it past.
      const received = hlcReceive(
        clock,
        { wall: Math.max(clock.wall, now + 500), logical: MAX_HLC_LOGICAL - 1 },
        now,
        500,
      )
      if (received.ok) clock = received.hlc
      clock = hlcTick(clock, now)
    }
    expect(clock.wall).toBeLessThanOrEqual(now + 501)
  })

  test('refuses the largest timestamp, and one a year ahead, naming how far ahead it is', () => {
    const now = 1_800_000_000_000
    const largest = { wall: Number.MAX_SAFE_INTEGER, logical: Number.MAX_SAFE_INTEGER }
    expect(hlcReceive({ wall: now, logical: 3 }, largest, now, 500)).toEqual({
      ok: false,
      aheadMs: Number.MAX_SAFE_INTEGER - now,
    })
    const year = 365 * 24 * 3600 * 1000
    expect(hlcReceive(HLC_ZERO, { wall: now + year, logical: 0 }, now, 500)).toEqual({
      ok: false,
      aheadMs: year,
    })
  })

  test('a remote time ahead of the wall clock, within the bound, is adopted, then ticks stay after it', () => {
    const received = hlcReceive({ wall: 10, logical: 0 }, { wall: 50, logical: 7 }, 12, 500)
    expect(received).toEqual({ ok: true, hlc: { wall: 50, logical: 8 } })
    expect(hlcTick({ wall: 50, logical: 8 }, 13)).toEqual({ wall: 50, logical: 9 })
    // At the bound exactly it is taken; a full logical counter there would carry past it.
    expect(hlcReceive(HLC_ZERO, { wall: 512, logical: 1 }, 12, 500)).toEqual({
      ok: true,
      hlc: { wall: 512, logical: 2 },
    })
    expect(hlcReceive(HLC_ZERO, { wall: 512, logical: MAX_HLC_LOGICAL }, 12, 500).ok).toBe(false)
  })

  test('a clock already ahead (the wall clock stepped back) keeps ticking from where it is', () => {
    const received = hlcReceive({ wall: 10_000, logical: 4 }, { wall: 300, logical: 0 }, 100, 500)
    expect(received).toEqual({ ok: true, hlc: { wall: 10_000, logical: 5 } })
  })
})

describe('hybrid logical clock', () => {
  test('any interleaving of local events and accepted receives is strictly increasing', () => {
    type Event = { kind: 'tick'; now: number } | { kind: 'receive'; now: number; remote: Hlc }
    const event: fc.Arbitrary<Event> = fc.oneof(
      record({ kind: fc.constant('tick' as const), now: fc.nat(2 ** 40) }),
      record({ kind: fc.constant('receive' as const), now: fc.nat(2 ** 40), remote: hlc }),
    )
    fc.assert(
      fc.property(
        record({ wall: fc.nat(2 ** 40), logical }),
        fc.array(event, { maxLength: 50 }),
        (start, events) => {
          let last = start
          for (const e of events) {
            if (e.kind === 'tick') {
              const next = hlcTick(last, e.now)
              after(next, last)
              last = next
              continue
            }
            const received = hlcReceive(last, e.remote, e.now, 2 ** 41)
            if (!received.ok) continue
            after(received.hlc, last)
            after(received.hlc, e.remote)
            last = received.hlc
          }
        },
      ),
    )
  })

  test('messages between two nodes whose clocks differ by less than the bound keep causal order', () => {
    // Each step is a send from one node to the other: the receiver's stamp must follow the send.
    const step = record({ from: fc.constantFrom(0, 1), sendAt: fc.nat(50), receiveAt: fc.nat(50) })
    fc.assert(
      fc.property(fc.integer({ min: -400, max: 400 }), fc.array(step, { maxLength: 40 }), (skew, steps) => {
        const clocks: [Hlc, Hlc] = [HLC_ZERO, HLC_ZERO]
        let elapsed = 2000
        for (const { from, sendAt, receiveAt } of steps) {
          elapsed += sendAt
          const reading = (node: 0 | 1) => elapsed + (node === 1 ? skew : 0)
          const to = from === 0 ? 1 : 0
          const sent = hlcTick(clocks[from], reading(from))
          clocks[from] = sent
          elapsed += receiveAt
          const received = hlcReceive(clocks[to], sent, reading(to), DEFAULT_MAX_CLOCK_OFFSET_MS)
          if (!received.ok) expect.fail(`refused ${JSON.stringify(sent)} with clocks ${skew} ms apart`)
          after(received.hlc, sent)
          clocks[to] = received.hlc
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

  test('isHlc is exactly what the codec accepts', () => {
    fc.assert(
      fc.property(hostileHlc, (t) => {
        expect(isHlc(t)).toBe(HlcSchema.safeParse(t).success)
      }),
    )
  })
})
