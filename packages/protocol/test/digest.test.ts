import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { setDigest } from '../src/index.js'

// Peer ids are base58 strings; the digest is compared across nodes, so it must not depend on order.
const id = fc.string({
  unit: fc.constantFrom(...'123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'.split('')),
  minLength: 1,
  maxLength: 52,
})

describe('setDigest', () => {
  test('depends on the set only: not on order or duplicates', () => {
    fc.assert(
      fc.property(fc.array(id, { maxLength: 30 }), fc.infiniteStream(fc.nat()), (ids, noise) => {
        const shuffled = ids.map((v) => ({ v, key: noise.next().value })).sort((a, b) => a.key - b.key)
        const withDuplicates = [...shuffled.map(({ v }) => v), ...ids.slice(0, 3)]
        expect(setDigest(withDuplicates)).toBe(setDigest(ids))
        expect(setDigest(new Set(ids))).toBe(setDigest(ids))
      }),
    )
  })

  test('is 8 hex characters, short enough for a heartbeat', () => {
    fc.assert(
      fc.property(fc.array(id, { maxLength: 30 }), (ids) => {
        expect(setDigest(ids)).toMatch(/^[0-9a-f]{8}$/)
      }),
    )
  })

  test('tells apart sets that differ by one member or by how ids split', () => {
    expect(setDigest(['a', 'b'])).not.toBe(setDigest(['a']))
    expect(setDigest(['ab', 'c'])).not.toBe(setDigest(['a', 'bc']))
    expect(setDigest([])).not.toBe(setDigest(['']))
  })
})
