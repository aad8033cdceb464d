import type { Heartbeat } from '@gary/protocol'
import { describe, expect, it } from 'vitest'
import { ShortBeats } from '../src/membership/short-beats.js'

const beat = (change: Partial<Heartbeat> = {}): Heartbeat => ({
  incarnation: 1_700_000_000_000,
  seq: 4,
  members: '0a0b0c0d',
  decls: '0102030405060708',
  wall: 1_800_000_000_000,
  ...change,
})

describe('short beats', () => {
  it('go between full heartbeats only while nothing but the clock changed, for at most a full interval', () => {
    const beats = new ShortBeats(1000)
    expect(beats.shorten('p', beat(), true, 0)).toBe(false)
    expect(beats.shorten('p', beat({ wall: 1_800_000_000_150 }), true, 150)).toBe(true)
    // A changed seq, members digest or declarations digest goes full at once.
    expect(beats.shorten('p', beat({ seq: 5 }), true, 300)).toBe(false)
    expect(beats.shorten('p', beat({ seq: 5 }), true, 450)).toBe(true)
    expect(beats.shorten('p', beat({ seq: 5, decls: 'ffffffffffffffff' }), true, 600)).toBe(false)
    // A roll call, and a stream the peer has read nothing on (or one of 1.0.0), go full.
    expect(beats.shorten('p', beat({ seq: 5, decls: 'ffffffffffffffff', ask: true }), true, 700)).toBe(false)
    expect(beats.shorten('p', beat({ seq: 5, decls: 'ffffffffffffffff' }), false, 750)).toBe(false)
    // The clock is sent in full at least every interval.
    expect(beats.shorten('p', beat({ seq: 5, decls: 'ffffffffffffffff' }), true, 1749)).toBe(true)
    expect(beats.shorten('p', beat({ seq: 5, decls: 'ffffffffffffffff' }), true, 1750)).toBe(false)
    // Per peer.
    expect(beats.shorten('q', beat(), true, 1800)).toBe(false)
  })

  it("stand for the sender's last full heartbeat with its clock advanced, and for nothing before one", () => {
    const beats = new ShortBeats(1000)
    expect(beats.expand('p', 0)).toBeUndefined()
    beats.heardFull('p', beat({ ask: true }), 1000)
    expect(beats.expand('p', 1150)).toEqual(beat({ wall: 1_800_000_000_150 }))
    beats.forget('p')
    expect(beats.expand('p', 1300)).toBeUndefined()
  })
})
