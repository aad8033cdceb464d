import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { fastMessageId } from '../src/net/gossip.js'

// Gossipsub drops a message whose fast id it has seen validated, without checking its signature:
// two messages may share one only when the message id (author and sequence number) is the same.
describe('fastMessageId', () => {
  test('equal exactly when author and sequence number are equal', () => {
    const bytes = fc.uint8Array({ maxLength: 40 })
    fc.assert(
      fc.property(bytes, bytes, bytes, bytes, (fromA, seqA, fromB, seqB) => {
        const same = fromA.join() === fromB.join() && seqA.join() === seqB.join()
        expect(
          fastMessageId({ from: fromA, seqno: seqA }) === fastMessageId({ from: fromB, seqno: seqB }),
        ).toBe(same)
      }),
    )
  })

  test('reads views into larger buffers as they are', () => {
    const buffer = Uint8Array.from([9, 1, 2, 3, 4, 5, 9])
    expect(fastMessageId({ from: buffer.subarray(1, 3), seqno: buffer.subarray(3, 6) })).toBe(
      fastMessageId({ from: Uint8Array.of(1, 2), seqno: Uint8Array.of(3, 4, 5) }),
    )
    expect(fastMessageId({ from: Uint8Array.of(1, 2), seqno: Uint8Array.of(3) })).not.toBe(
      fastMessageId({ from: Uint8Array.of(1), seqno: Uint8Array.of(2, 3) }),
    )
  })
})
