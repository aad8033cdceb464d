import { describe, expect, test } from 'vitest'
import { ClockGuard } from '../src/clock/clock-guard.js'
import type { Logger } from '../src/logger.js'

const YEAR_MS = 365 * 24 * 3600 * 1000

/** A guard on a stepped clock, with what it logged. */
function guard() {
  const time = { wall: 1_800_000_000_000, now: 0 }
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = []
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, msg: string): void => {
      lines.push({ level, msg, fields })
    }
  const logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  } as unknown as Logger
  const clock = new ClockGuard(
    { maxOffsetMs: 500 },
    { logger, wallNow: () => time.wall, now: () => time.now },
  )
  const step = (ms: number) => {
    time.wall += ms
    time.now += ms
  }
  return { clock, time, lines, step }
}

describe('ClockGuard', () => {
  test('refuses a timestamp past the bound, naming the peer and the offset, at warn once a minute per peer', () => {
    const { clock, time, lines, step } = guard()
    const last = { wall: time.wall, logical: 0 }
    expect(clock.receive(last, { wall: time.wall + 400, logical: 0 }, { peer: 'p', via: 'gossip' })).toEqual({
      wall: time.wall + 400,
      logical: 1,
    })
    const ahead = { wall: time.wall + YEAR_MS, logical: 0 }
    expect(clock.receive(last, ahead, { peer: 'p', workload: 'web', via: 'gossip' })).toBeUndefined()
    expect(clock.receive(last, ahead, { peer: 'p', via: 'sync' })).toBeUndefined()
    step(60_000)
    expect(clock.receive(last, ahead, { peer: 'p', via: 'sync' })).toBeUndefined()
    expect(lines.map((line) => [line.level, line.msg, line.fields.peer])).toEqual([
      ['warn', 'refused a timestamp too far ahead', 'p'],
      ['debug', 'refused a timestamp too far ahead', 'p'],
      ['warn', 'refused a timestamp too far ahead', 'p'],
    ])
    expect(lines[0]!.fields).toMatchObject({
      workload: 'web',
      aheadMs: YEAR_MS,
      ahead: '365 days',
      maxOffsetMs: 500,
    })
  })

  test('refuses writes while most peers are far, says so at error each minute, and says when it agrees again', () => {
    const { clock, time, lines, step } = guard()
    /** A heartbeat from each peer, a second apart, with its clock this far from this node's. */
    const beats = (offsets: Record<string, number>) => {
      step(1000)
      for (const [peer, offset] of Object.entries(offsets)) clock.observe(peer, time.wall + offset)
    }
    // A peer counts once heard three times.
    beats({ a: -YEAR_MS })
    beats({ a: -YEAR_MS })
    expect(clock.writesRefused()).toBeUndefined()
    beats({ a: -YEAR_MS })
    expect(clock.writesRefused()).toBe(
      "this node's clock is 365 days ahead of its peers' (the median of 1; at most 500 ms is allowed): it refuses writes until its clock is fixed",
    )
    for (let i = 0; i < 60; i++) beats({ a: -YEAR_MS, b: -YEAR_MS, c: 20 })
    expect(lines.filter((line) => line.level === 'error').map((line) => line.msg)).toEqual([
      'clock far from peers: refusing writes',
      'clock far from peers: refusing writes',
    ])
    // The clock is fixed: a reading that shows a peer closer is believed at once (a delay only
    // ever makes a peer look behind).
    beats({ a: 0, b: 0, c: 0 })
    expect(clock.writesRefused()).toBeUndefined()
    expect(lines.at(-1)).toMatchObject({
      level: 'info',
      msg: 'clock agrees with peers again: accepting writes',
    })
  })
})
