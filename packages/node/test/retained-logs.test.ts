import { describe, expect, test } from 'vitest'
import { RetainedLogs } from '../src/logs/retained.js'

// A refused slot's last lines, kept for `gary logs --previous`: bounded in time, in bytes a
// slot and in slots, so that a crash-looping cluster cannot fill a node's memory.

const line = (text: string) => ({ stream: 'stdout' as const, line: text })

describe('RetainedLogs', () => {
  test('keeps the newest lines that fit in the byte bound, oldest first', () => {
    const kept = new RetainedLogs({ maxBytes: 20 }, () => 0)
    kept.keep('web', 0, ['one', 'two', 'three', 'four'].map(line))
    // Each line costs its bytes and a newline: four (5) + three (6) + two (4) = 15; one more is 19.
    expect(kept.get('web', 0)?.map((l) => l.line)).toEqual(['one', 'two', 'three', 'four'])
    kept.keep('web', 0, ['x'.repeat(10), 'y'.repeat(10), 'z'.repeat(5)].map(line))
    expect(kept.get('web', 0)?.map((l) => l.line)).toEqual(['y'.repeat(10), 'z'.repeat(5)])
    expect(kept.get('web', 1)).toBeUndefined()
  })

  test('forgets a slot once its time is up', () => {
    let now = 0
    const kept = new RetainedLogs({ keepMs: 1000 }, () => now)
    kept.keep('web', 0, [line('boom')])
    now = 999
    expect(kept.get('web', 0)).toHaveLength(1)
    now = 1000
    expect(kept.get('web', 0)).toBeUndefined()
  })

  test('keeps at most maxSlots slots, dropping the oldest kept', () => {
    const kept = new RetainedLogs({ maxSlots: 2 }, () => 0)
    kept.keep('a', 0, [line('a')])
    kept.keep('b', 0, [line('b')])
    kept.keep('a', 0, [line('a again')])
    kept.keep('c', 0, [line('c')])
    expect(kept.get('b', 0)).toBeUndefined()
    expect(kept.get('a', 0)?.[0]?.line).toBe('a again')
    expect(kept.get('c', 0)).toHaveLength(1)
  })
})
