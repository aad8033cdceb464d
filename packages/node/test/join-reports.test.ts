import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { JoinReports, joinFailure } from '../src/membership/join-reports.js'

/** Errors as libp2p 2.x's dial rejects with them (seen on the lab's machines). */
const REFUSED = new Error('connection error 10.213.100.11:4279: connect ECONNREFUSED 10.213.100.11:4279')
const TIMEOUT = new DOMException('The operation was aborted due to timeout', 'TimeoutError')
const WRONG_KEY = new Error('unexpected end of input')

function recorder() {
  const lines: Record<string, unknown>[] = []
  const logger = pino(
    { level: 'debug', base: undefined },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  )
  return { lines, reports: new JoinReports(logger) }
}

describe('a failed join', () => {
  it('says why, in one sentence that names no port or timing', () => {
    expect(joinFailure(REFUSED)).toMatch(/^connection refused: nothing listens there/)
    expect(joinFailure(TIMEOUT)).toMatch(/^no answer: the machine is down/)
    expect(joinFailure(new Error('connect EHOSTUNREACH 10.213.100.11:4279'))).toBe(joinFailure(TIMEOUT))
    expect(joinFailure(WRONG_KEY)).toMatch(/cluster key/)
    expect(joinFailure(new AggregateError([REFUSED], 'All promises were rejected'))).toBe(
      joinFailure(REFUSED),
    )
    expect(joinFailure(new Error('something else\nand more'))).toBe('dial failed: something else')
  })

  it('is logged at warn once per address per reason, and the join that follows at info', () => {
    const { lines, reports } = recorder()
    const addr = '/ip4/10.213.100.11/tcp/4279/p2p/12D3KooW'
    for (let i = 0; i < 5; i++) reports.failed(addr, REFUSED)
    reports.failed('/ip4/10.213.100.12/tcp/4279', REFUSED)
    reports.failed(addr, TIMEOUT)
    reports.failed(addr, TIMEOUT)
    reports.joined(addr, 'peer-a')
    reports.joined(addr, 'peer-a')
    reports.failed(addr, TIMEOUT)
    expect(lines.map((l) => [l.level, l.msg, l.join])).toEqual([
      [40, 'cannot join', addr],
      [40, 'cannot join', '/ip4/10.213.100.12/tcp/4279'],
      [40, 'cannot join', addr],
      [30, 'joined', addr],
      [40, 'cannot join', addr],
    ])
    expect(lines[0]!.reason).toBe(joinFailure(REFUSED))
    expect(lines[2]!.reason).toBe(joinFailure(TIMEOUT))
  })
})
