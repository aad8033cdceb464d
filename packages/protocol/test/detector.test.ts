import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  accuses,
  type Beats,
  contradicts,
  DEFAULT_DETECTOR,
  DEFAULT_LOCAL_HEALTH,
  fastSilent,
  LocalHealth,
  MemberTable,
  ringNeighbours,
  ringSuccessors,
  silence,
  silenceThreshold,
  worstGapAfter,
} from '../src/index.js'

const ids = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 30 })

/** Timer firings: each due some time after the last, fired `late` ms after it was due. */
const firings = fc.array(fc.record({ gap: fc.integer({ min: 1, max: 2000 }), late: fc.nat(3000) }), {
  maxLength: 40,
})

function replay(health: LocalHealth, steps: { gap: number; late: number }[]): number {
  let due = 0
  let now = 0
  for (const { gap, late } of steps) {
    due = Math.max(due + gap, now)
    now = due + late
    health.fired(due, now)
  }
  return now
}

const beats: fc.Arbitrary<Beats & { lastAt: number; previousAt: number }> = fc
  .tuple(fc.nat(10_000), fc.nat(2000))
  .map(([previousAt, gap]) => ({ previousAt, lastAt: previousAt + gap }))

describe('ring successors', () => {
  test('with more members than watchers, every member has exactly `watchers` witnesses, whatever the order', () => {
    fc.assert(
      fc.property(ids, fc.integer({ min: 1, max: 4 }), (members, watchers) => {
        const watchedBy = new Map(members.map((id) => [id, 0]))
        for (const self of members) {
          const successors = ringSuccessors(self, members, watchers)
          expect(successors).toEqual(ringSuccessors(self, [...members].reverse(), watchers))
          expect(successors).not.toContain(self)
          expect(new Set(successors).size).toBe(successors.length)
          expect(successors.length).toBe(Math.min(watchers, members.length - 1))
          for (const id of successors) watchedBy.set(id, watchedBy.get(id)! + 1)
        }
        for (const count of watchedBy.values()) expect(count).toBe(Math.min(watchers, members.length - 1))
      }),
    )
  })

  test('a node watches exactly the members whose successors it is', () => {
    fc.assert(
      fc.property(ids, fc.integer({ min: 1, max: 4 }), (members, watchers) => {
        for (const self of members) {
          const watched = ringNeighbours(self, members, watchers).predecessors
          const beatingSelf = members.filter((id) => ringSuccessors(id, members, watchers).includes(self))
          expect([...watched].sort()).toEqual([...beatingSelf].sort())
        }
      }),
    )
  })
})

describe('local health', () => {
  test('timers on time keep the score at zero', () => {
    fc.assert(
      fc.property(firings, (steps) => {
        const health = new LocalHealth()
        const onTime = steps.map((s) => ({ ...s, late: s.late % (DEFAULT_LOCAL_HEALTH.lateMs + 1) }))
        const now = replay(health, onTime)
        expect(health.score(now)).toBe(0)
        expect(health.mayAccuse(now)).toBe(true)
      }),
    )
  })

  test('after a late timer the node accuses nobody until it has been on time for a while, and the score stays bounded', () => {
    fc.assert(
      fc.property(firings, fc.integer({ min: DEFAULT_LOCAL_HEALTH.lateMs + 1, max: 5000 }), (steps, late) => {
        const health = new LocalHealth()
        const before = replay(health, steps)
        const due = before + 10
        health.fired(due, due + late)
        const at = due + late
        expect(health.score(at)).toBeGreaterThan(0)
        expect(health.score(at)).toBeLessThanOrEqual(DEFAULT_LOCAL_HEALTH.maxScore)
        expect(health.mayAccuse(at + DEFAULT_LOCAL_HEALTH.recoverMs - 1)).toBe(false)
        const healed = at + DEFAULT_LOCAL_HEALTH.recoverMs * DEFAULT_LOCAL_HEALTH.maxScore
        expect(health.mayAccuse(healed)).toBe(true)
      }),
    )
  })

  test('a longer stall stretches timeouts at least as much as a shorter one', () => {
    fc.assert(
      fc.property(fc.nat(5000), fc.nat(5000), (a, b) => {
        const [short, long] = a < b ? [a, b] : [b, a]
        const one = new LocalHealth()
        const two = new LocalHealth()
        one.fired(0, short)
        two.fired(0, long)
        expect(two.multiplier(long)).toBeGreaterThanOrEqual(one.multiplier(long))
      }),
    )
  })
})

describe('accusing a silent member', () => {
  test('a node whose own timers were late never accuses, however long the silence', () => {
    fc.assert(
      fc.property(
        beats,
        fc.nat(100_000),
        fc.integer({ min: DEFAULT_LOCAL_HEALTH.lateMs + 1, max: 5000 }),
        (b, silence, late) => {
          const health = new LocalHealth()
          const now = b.lastAt + silence
          health.fired(now - late, now)
          expect(accuses(b, now, health)).toBe(false)
        },
      ),
    )
  })

  test('a healthy node accuses only a member that beat it fast, and only after the threshold', () => {
    fc.assert(
      fc.property(beats, fc.nat(5000), (b, silence) => {
        const health = new LocalHealth()
        const now = b.lastAt + silence
        const fast = b.lastAt - b.previousAt <= DEFAULT_DETECTOR.fastGapMs
        expect(accuses(b, now, health)).toBe(fast && silence > DEFAULT_DETECTOR.suspectAfterMs)
      }),
    )
  })

  test('silence stays silence: once silent, later times are silent too, and a stretch only delays it', () => {
    fc.assert(
      fc.property(beats, fc.nat(5000), fc.nat(5000), fc.integer({ min: 1, max: 9 }), (b, t, later, m) => {
        const now = b.lastAt + t
        if (fastSilent(b, now, 1)) expect(fastSilent(b, now + later, 1)).toBe(true)
        if (fastSilent(b, now, m)) expect(fastSilent(b, now, 1)).toBe(true)
      }),
    )
  })

  test('a machine is knocked at before its member is accused, and a member whose machine answered is never accused', () => {
    const knocks = fc.option(
      fc.record({
        at: fc.nat(20_000),
        answer: fc.option(fc.constantFrom('up' as const, 'down' as const), { nil: undefined }),
        answeredAt: fc.nat(20_000),
      }),
      { nil: undefined },
    )
    fc.assert(
      fc.property(beats, knocks, fc.nat(5000), (b, knock, quiet) => {
        const now = b.lastAt + quiet
        const verdict = silence(b, knock, now, new LocalHealth())
        if (verdict === 'accuse') {
          // Only past the threshold, after a knock made during this silence went unanswered.
          expect(accuses(b, now, new LocalHealth())).toBe(true)
          expect(knock?.answer).toBe('down')
          expect(knock?.at).toBeGreaterThanOrEqual(b.lastAt)
        }
        if (verdict === 'knock') expect(quiet).toBeGreaterThan(DEFAULT_DETECTOR.knockAfterMs)
        if (knock?.answer === 'up' && knock.at >= b.lastAt) expect(verdict).not.toBe('accuse')
      }),
    )
  })

  test('the silence that accuses is never shorter than the threshold, and at least 1.5 times a gap just seen', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 30 }),
        fc.nat(30_000),
        (gaps, later) => {
          let beats: Beats = {}
          let now = 0
          for (const gap of gaps) {
            const previousGap =
              beats.lastAt !== undefined && beats.previousAt !== undefined
                ? beats.lastAt - beats.previousAt
                : Infinity
            const worstGap = worstGapAfter(beats, now + gap)
            now += gap
            const threshold = silenceThreshold({ ...beats, worstGap }, now)
            expect(threshold).toBeGreaterThanOrEqual(DEFAULT_DETECTOR.suspectAfterMs)
            if (
              previousGap <= DEFAULT_DETECTOR.fastGapMs &&
              beats.lastAt !== undefined &&
              gap <= DEFAULT_DETECTOR.gapCapMs
            )
              expect(threshold).toBeGreaterThanOrEqual(DEFAULT_DETECTOR.gapFactor * gap - 1e-9)
            beats = { previousAt: beats.lastAt, lastAt: now, ...(worstGap === undefined ? {} : { worstGap }) }
          }
          // An absence is not jitter: the threshold never comes from a gap past the cap.
          expect(silenceThreshold(beats, now)).toBeLessThanOrEqual(
            Math.max(DEFAULT_DETECTOR.suspectAfterMs, DEFAULT_DETECTOR.gapFactor * DEFAULT_DETECTOR.gapCapMs),
          )
          // Fades, and never below the configured threshold.
          const at = now + later
          expect(silenceThreshold(beats, at)).toBeLessThanOrEqual(silenceThreshold(beats, now))
          expect(silenceThreshold(beats, at)).toBeGreaterThanOrEqual(DEFAULT_DETECTOR.suspectAfterMs)
        },
      ),
    )
  })

  test('a node that heard the member within the threshold contradicts a report of its silence', () => {
    expect(contradicts(1000, 1000 + DEFAULT_DETECTOR.suspectAfterMs)).toBe(true)
    expect(contradicts(1000, 1001 + DEFAULT_DETECTOR.suspectAfterMs)).toBe(false)
    expect(contradicts(undefined, 0)).toBe(false)
  })
})

describe('witnesses', () => {
  test('reports of silence from one witness, however many, never make a member dead; a second distinct witness does', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.nat(3), (repeats, seq) => {
        const table = new MemberTable('self')
        table.observeHeartbeat('m', { incarnation: 1, seq, decls: 'd', members: 'x', wall: 0 }, 0)
        const at = { incarnation: 1, seq }
        const now = 2 * DEFAULT_DETECTOR.suspectAfterMs
        for (let i = 0; i < repeats; i++) expect(table.observeDown('m', at, 'w1', now + i)).toBe('noted')
        expect(table.sweep(now + repeats, 'm')).toEqual([])
        expect(table.observeDown('m', at, 'w2', now + repeats)).toBe('marked')
        expect(table.sweep(now + repeats, 'm').map((c) => c.to)).toEqual(['dead'])
      }),
    )
  })
})
