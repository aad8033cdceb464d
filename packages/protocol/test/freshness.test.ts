import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { compareVersions, isNewer } from '../src/index.js'
import { count, version } from './arbitraries.js'

describe('compareVersions', () => {
  test('is reflexive and only equal versions compare equal', () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        expect(compareVersions(a, { ...a })).toBe(0)
        expect(compareVersions(a, b) === 0).toBe(a.incarnation === b.incarnation && a.seq === b.seq)
      }),
    )
  })

  test('is antisymmetric', () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        expect(Math.sign(compareVersions(a, b)) + Math.sign(compareVersions(b, a))).toBe(0)
      }),
    )
  })

  test('is transitive', () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0) {
          expect(compareVersions(a, c)).toBeLessThanOrEqual(0)
        }
        if (compareVersions(a, b) < 0 && compareVersions(b, c) <= 0)
          expect(compareVersions(a, c)).toBeLessThan(0)
      }),
    )
  })

  test('sorting with it gives one order whatever the input order', () => {
    fc.assert(
      fc.property(fc.array(version, { maxLength: 20 }), fc.infiniteStream(fc.nat()), (versions, noise) => {
        const shuffled = versions
          .map((v) => ({ v, key: noise.next().value }))
          .sort((x, y) => x.key - y.key)
          .map(({ v }) => v)
        const sorted = [...versions].sort(compareVersions)
        expect([...shuffled].sort(compareVersions)).toEqual(sorted)
        for (let i = 1; i < sorted.length; i++) {
          expect(compareVersions(sorted[i - 1]!, sorted[i]!)).toBeLessThanOrEqual(0)
        }
      }),
    )
  })

  test('a larger incarnation beats any seq', () => {
    fc.assert(
      fc.property(
        count,
        fc.integer({ min: 1, max: 1000 }),
        count,
        count,
        (incarnation, gap, oldSeq, newSeq) => {
          const before = { incarnation, seq: oldSeq }
          const after = { incarnation: incarnation + gap, seq: newSeq }
          fc.pre(Number.isSafeInteger(after.incarnation))
          expect(compareVersions(after, before)).toBeGreaterThan(0)
          expect(compareVersions(before, after)).toBeLessThan(0)
          expect(isNewer(after, before)).toBe(true)
          expect(isNewer(before, after)).toBe(false)
        },
      ),
    )
  })

  test('within an incarnation, the larger seq is newer', () => {
    expect(compareVersions({ incarnation: 2, seq: 10 }, { incarnation: 2, seq: 9 })).toBeGreaterThan(0)
    expect(
      compareVersions({ incarnation: 2, seq: 0 }, { incarnation: 1, seq: Number.MAX_SAFE_INTEGER }),
    ).toBe(1)
  })
})

describe('isNewer', () => {
  test('agrees with compareVersions and treats anything as newer than nothing', () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        expect(isNewer(a, b)).toBe(compareVersions(a, b) > 0)
        expect(isNewer(a, a)).toBe(false)
        expect(isNewer(a, undefined)).toBe(true)
      }),
    )
  })
})
