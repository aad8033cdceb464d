import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { decodeVolumeAnswer, decodeVolumeRequest, encodeVolumeMessage } from '../src/volumes/frames.js'

describe('volume removal frames', () => {
  test('a request and an answer round trip', () => {
    const request = { workload: 'db', slot: 0, name: 'data' }
    expect(decodeVolumeRequest(encodeVolumeMessage(request))).toEqual({ ok: true, value: request })
    const answer = { ok: true as const, removed: ['db/0/data'] }
    expect(decodeVolumeAnswer(encodeVolumeMessage(answer))).toEqual({ ok: true, value: answer })
  })

  test('any bytes decode to a valid message or a reason, never a throw', () => {
    const json = fc.jsonValue().map((value) => new TextEncoder().encode(JSON.stringify(value)))
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), json), (bytes) => {
        for (const decoded of [decodeVolumeRequest(bytes), decodeVolumeAnswer(bytes)]) {
          if (!decoded.ok) expect(decoded.reason).toMatch(/^(bad volume|volume)/)
        }
      }),
    )
  })

  test('a request naming a volume a shell or terminal would act on is refused', () => {
    for (const request of [
      { workload: 'db', name: '../x' },
      { workload: 'db', name: '\u001b[2J' },
      { workload: 'DB' },
      { workload: 'db', slot: -1 },
      { workload: 'db', extra: 1 },
    ])
      expect(
        decodeVolumeRequest(new TextEncoder().encode(JSON.stringify(request))).ok,
        JSON.stringify(request),
      ).toBe(false)
  })
})
