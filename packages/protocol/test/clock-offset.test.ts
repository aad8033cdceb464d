import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { CLOCK_SAMPLE_WINDOW_MS, formatOffset, MAX_HLC_WALL, PeerClocks } from '../src/index.js'

const YEAR_MS = 365 * 24 * 3600 * 1000
const WALL = 1_800_000_000_000

/** Each peer's heartbeat at monotonic `now`, read by a node whose wall clock is `WALL + now`. */
function hear(clocks: PeerClocks, offsets: Record<string, number>, now: number): void {
  for (const [peer, offset] of Object.entries(offsets))
    clocks.observe(peer, WALL + now + offset, WALL + now, now)
}

/** Three heartbeats a second apart from each peer, the last at `now`: enough for each to count. */
function hearAWhile(clocks: PeerClocks, offsets: Record<string, number>, now: number): void {
  for (const at of [now - 2000, now - 1000, now]) hear(clocks, offsets, at)
}

describe('PeerClocks', () => {
  test('a node that agrees with its peers is not far; one wrong peer among three does not make it far', () => {
    const clocks = new PeerClocks(500)
    hearAWhile(clocks, { a: 3, b: -20, c: YEAR_MS }, 0)
    expect(clocks.verdict(0)).toEqual({ peers: 3, off: 1, medianOffsetMs: 3, far: false })
  })

  test('a node whose clock is a year ahead of most of its peers is far, and the median says by how much', () => {
    const clocks = new PeerClocks(500)
    hearAWhile(clocks, { a: -YEAR_MS, b: -YEAR_MS + 40, c: 10 }, 0)
    expect(clocks.verdict(0)).toEqual({ peers: 3, off: 2, medianOffsetMs: -YEAR_MS + 40, far: true })
  })

  test('half of the peers is not most of them: two clocks, one each way, are not far', () => {
    const clocks = new PeerClocks(500)
    hearAWhile(clocks, { a: -5000, b: 0 }, 0)
    expect(clocks.verdict(0).far).toBe(false)
    // One peer alone is most of them: with one peer, either clock may be the wrong one, and both say so.
    const lone = new PeerClocks(500)
    hearAWhile(lone, { a: 5000 }, 0)
    expect(lone.verdict(0)).toMatchObject({ peers: 1, far: true, medianOffsetMs: 5000 })
  })

  test('late readings (a slow network, a busy event loop) do not make a peer look behind: the least delayed counts', () => {
    const clocks = new PeerClocks(500)
    // The peer's clock agrees; its heartbeats arrived 1.2 s late but one.
    for (let i = 0; i < 9; i++) clocks.observe('a', WALL + i * 1000 - 1200, WALL + i * 1000, i * 1000)
    clocks.observe('a', WALL + 9000 - 4, WALL + 9000, 9000)
    expect(clocks.offsetOf('a', 9000)).toBe(-4)
    expect(clocks.verdict(9000).far).toBe(false)
  })

  test('a peer counts once heard three times: one late first reading (a daemon just started) is not enough', () => {
    const clocks = new PeerClocks(500)
    hear(clocks, { a: -684 }, 0)
    expect(clocks.verdict(0)).toEqual({ peers: 0, off: 0, medianOffsetMs: undefined, far: false })
    hear(clocks, { a: -3 }, 1000)
    hear(clocks, { a: -2 }, 2000)
    expect(clocks.verdict(2000)).toEqual({ peers: 1, off: 0, medianOffsetMs: -2, far: false })
  })

  test('a peer not heard within the window is forgotten, and a fixed clock is believed again', () => {
    const clocks = new PeerClocks(500)
    hearAWhile(clocks, { a: YEAR_MS }, 0)
    expect(clocks.verdict(0).far).toBe(true)
    expect(clocks.verdict(CLOCK_SAMPLE_WINDOW_MS + 1)).toEqual({
      peers: 0,
      off: 0,
      medianOffsetMs: undefined,
      far: false,
    })
    hearAWhile(clocks, { a: YEAR_MS }, 20_000)
    hearAWhile(clocks, { a: 0 }, 27_000)
    // Its clock stepped back: the wrong readings count until they leave the window.
    expect(clocks.verdict(27_000).far).toBe(true)
    hear(clocks, { a: 0 }, 31_000)
    expect(clocks.verdict(31_000).far).toBe(false)
  })

  test('over hostile readings it never throws, keeps few samples, and judges far exactly when most peers are off', () => {
    const reading = fc.oneof(
      fc.integer({ min: -2 * YEAR_MS, max: 2 * YEAR_MS }),
      fc.constantFrom(0, MAX_HLC_WALL, Number.NaN, Number.POSITIVE_INFINITY, -1, 0.5),
    )
    const beat = fc.record({
      peer: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      offset: reading,
      at: fc.nat(30_000),
    })
    fc.assert(
      fc.property(fc.array(beat, { maxLength: 200 }), fc.nat(5_000), (beats, bound) => {
        const clocks = new PeerClocks(bound)
        beats.sort((x, y) => x.at - y.at)
        for (const { peer, offset, at } of beats) clocks.observe(peer, WALL + at + offset, WALL + at, at)
        const now = beats.at(-1)?.at ?? 0
        const verdict = clocks.verdict(now)
        const offsets = ['a', 'b', 'c', 'd', 'e'].flatMap((peer) => {
          const offset = clocks.offsetOf(peer, now)
          return offset === undefined ? [] : [offset]
        })
        expect(offsets.every(Number.isFinite)).toBe(true)
        expect(verdict.peers).toBe(offsets.length)
        const off = offsets.filter((offset) => Math.abs(offset) > bound).length
        expect(verdict.off).toBe(off)
        expect(verdict.far).toBe(off * 2 > offsets.length)
        // Each offset is the largest reading of its peer in the window.
        for (const peer of ['a', 'b', 'c', 'd', 'e']) {
          const inWindow = beats.filter(
            (b) => b.peer === peer && now - b.at <= CLOCK_SAMPLE_WINDOW_MS && Number.isFinite(b.offset),
          )
          if (inWindow.length > 32) continue
          const expected = inWindow.length < 3 ? undefined : Math.max(...inWindow.map((b) => b.offset))
          expect(clocks.offsetOf(peer, now)).toBe(expected)
        }
      }),
    )
  })

  test('formatOffset says a clock offset for people', () => {
    expect(formatOffset(-750)).toBe('750 ms')
    expect(formatOffset(42_000)).toBe('42 s')
    expect(formatOffset(3 * 60_000)).toBe('3 min')
    expect(formatOffset(5 * 3_600_000)).toBe('5 h')
    expect(formatOffset(YEAR_MS)).toBe('365 days')
  })
  test('far, kept as readings come and go, is the verdict counted afresh at every time asked', () => {
    const step = fc.record({
      peer: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      offset: fc.oneof(fc.integer({ min: -2000, max: 2000 }), fc.constant(Number.NaN)),
      // Mostly heartbeats close together, sometimes a gap past the window.
      gap: fc.oneof(fc.nat(400), fc.nat(3 * CLOCK_SAMPLE_WINDOW_MS)),
      ask: fc.boolean(),
      backwards: fc.nat(50),
    })
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 300 }),
        fc.nat(1000),
        fc.boolean(),
        (steps, bound, monotonic) => {
          const kept = new PeerClocks(bound)
          const fresh = new PeerClocks(bound)
          let now = 0
          for (const { peer, offset, gap, ask, backwards } of steps) {
            now += gap
            // A clock that is not monotonic: the tally counts again.
            if (!monotonic) now -= backwards
            kept.observe(peer, WALL + now + offset, WALL + now, now)
            fresh.observe(peer, WALL + now + offset, WALL + now, now)
            if (ask) expect(kept.far(now)).toBe(fresh.verdict(now).far)
          }
          expect(kept.far(now)).toBe(fresh.verdict(now).far)
          expect(kept.verdict(now)).toEqual(fresh.verdict(now))
        },
      ),
      { numRuns: 500 },
    )
  })
})
