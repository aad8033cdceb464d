import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { encodedHeartbeatBytes, heartbeatBytes } from '../src/sizes.js'

describe('message sizes', () => {
  test('a heartbeat is counted at the size its encoder makes, without encoding it', () => {
    const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`))
    fc.assert(
      fc.property(
        fc.record({
          incarnation: fc.oneof(fc.nat(300), fc.nat()),
          seq: fc.oneof(fc.nat(300), fc.nat()),
          wall: fc.oneof(fc.constant(1_800_000_000_000), fc.nat(), fc.integer({ min: 0, max: 2 ** 53 - 1 })),
          members: hex(8),
          decls: hex(16),
          ask: fc.boolean(),
        }),
        (beat) => {
          expect(heartbeatBytes(beat)).toBe(encodedHeartbeatBytes(beat))
        },
      ),
      { numRuns: 2000 },
    )
  })
})
