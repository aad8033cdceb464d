import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type BackoffConfig,
  DEFAULT_BACKOFF,
  decideRestart,
  type HealthTiming,
  judgeHealth,
  RESTART_SETTLE_MS,
  type ReportedHealth,
  readyBudgetMs,
  runningPhase,
  type SlotFailure,
} from '../src/index.js'

// Rule 7, health that heals: a container whose check fails (or never passes within its budget)
// fails as an exit does, and is restarted within the same backoff and retry budget; a restarted
// slot is never ready until it has settled. fast-check prints the seed on failure.

const checks: fc.Arbitrary<HealthTiming> = fc.record({
  intervalMs: fc.integer({ min: 1, max: 60_000 }),
  timeoutMs: fc.integer({ min: 1, max: 30_000 }),
  retries: fc.integer({ min: 1, max: 10 }),
})
const reports: fc.Arbitrary<ReportedHealth> = fc.constantFrom(undefined, 'starting', 'healthy', 'unhealthy')
const policies = fc.record({
  policy: fc.constantFrom('always' as const, 'on-failure' as const, 'never' as const),
  maxRetries: fc.integer({ min: 0, max: 8 }),
})
const failures: fc.Arbitrary<SlotFailure> = fc.oneof(
  fc.record({
    kind: fc.constant('exited' as const),
    code: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    ranForMs: fc.integer({ min: 0, max: 60_000 }),
  }),
  fc.record({
    kind: fc.constant('unhealthy' as const),
    reason: fc.constant('health check failed 3 times in a row'),
    healthyForMs: fc.integer({ min: 0, max: 60_000 }),
  }),
  fc.record({ kind: fc.constant('not-started' as const), error: fc.constant('port is already allocated') }),
)
const backoffs: fc.Arbitrary<BackoffConfig> = fc.record({
  baseMs: fc.integer({ min: 1, max: 1000 }),
  capMs: fc.integer({ min: 1000, max: 30_000 }),
  resetAfterMs: fc.integer({ min: 1, max: 30_000 }),
})

describe('judgeHealth', () => {
  test('ready exactly when the engine says healthy, or when neither the spec nor the engine has a check', () => {
    fc.assert(
      fc.property(
        fc.option(checks, { nil: undefined }),
        reports,
        fc.nat(),
        fc.boolean(),
        (check, reported, ms, ever) => {
          const verdict = judgeHealth(check, reported, ms, ever)
          expect(verdict.kind === 'ready').toBe(
            reported === 'healthy' || (check === undefined && reported === undefined),
          )
        },
      ),
    )
  })

  test('without the spec (an older generation), only the engine fails a container', () => {
    fc.assert(
      fc.property(reports, fc.nat(), fc.boolean(), (reported, ms, ever) => {
        expect(judgeHealth(undefined, reported, ms, ever).kind === 'failed').toBe(reported === 'unhealthy')
      }),
    )
  })

  test('unhealthy fails at once; a check that never passed fails exactly once its budget is spent', () => {
    fc.assert(
      fc.property(
        checks,
        fc.constantFrom<ReportedHealth>(undefined, 'starting'),
        fc.nat(),
        (check, reported, ms) => {
          expect(judgeHealth(check, 'unhealthy', ms, false).kind).toBe('failed')
          expect(judgeHealth(check, 'unhealthy', ms, true).kind).toBe('failed')
          const verdict = judgeHealth(check, reported, ms, false)
          expect(verdict.kind).toBe(ms >= readyBudgetMs(check) ? 'failed' : 'waiting')
          // A container that passed once is judged by the engine's verdict alone.
          expect(judgeHealth(check, reported, ms, true).kind).toBe('waiting')
        },
      ),
    )
  })

  test('failing is for good: once failed at some time, failed at every later time', () => {
    fc.assert(
      fc.property(checks, reports, fc.nat(), fc.nat(), fc.boolean(), (check, reported, a, b, ever) => {
        const [early, late] = a <= b ? [a, b] : [b, a]
        if (judgeHealth(check, reported, early, ever).kind === 'failed')
          expect(judgeHealth(check, reported, late, ever).kind).toBe('failed')
      }),
    )
  })

  test('the budget outlasts the failed checks the engine needs to call a container unhealthy', () => {
    fc.assert(
      fc.property(checks, (check) => {
        expect(readyBudgetMs(check)).toBeGreaterThan(check.retries * check.intervalMs)
      }),
    )
  })
})

describe('decideRestart', () => {
  test('policy never restarts nothing; a delay is within base and cap and grows with the attempt', () => {
    fc.assert(
      fc.property(
        policies,
        failures,
        fc.integer({ min: 0, max: 10 }),
        backoffs,
        (restart, failure, restarts, config) => {
          const decision = decideRestart(restart, failure, restarts, config)
          if (restart.policy === 'never') expect(decision.restart).toBe(false)
          if (!decision.restart) return
          expect(decision.afterMs).toBeLessThanOrEqual(config.capMs)
          expect(decision.afterMs).toBeGreaterThanOrEqual(Math.min(config.baseMs, config.capMs))
          expect(decision.attempt).toBeLessThanOrEqual(restart.maxRetries)
          const next = decideRestart(restart, failure, decision.attempt, config)
          if (next.restart) expect(next.afterMs).toBeGreaterThanOrEqual(decision.afterMs)
        },
      ),
    )
  })

  test('an unhealthy container counts against the same budget as an exit, and on-failure restarts it', () => {
    fc.assert(
      fc.property(policies, fc.integer({ min: 0, max: 10 }), (restart, restarts) => {
        const exit = decideRestart(restart, { kind: 'exited', code: 1, ranForMs: 0 }, restarts)
        const sick = decideRestart(restart, { kind: 'unhealthy', reason: 'x', healthyForMs: 0 }, restarts)
        expect(sick.restart).toBe(exit.restart)
        if (sick.restart && exit.restart) expect(sick).toEqual(exit)
      }),
    )
  })

  test('a check that never passes uses the budget up, however long each attempt ran', () => {
    fc.assert(
      fc.property(policies, (restart) => {
        if (restart.policy === 'never') return
        let restarts = 0
        for (let attempt = 0; attempt <= restart.maxRetries; attempt++) {
          const decision = decideRestart(
            restart,
            { kind: 'unhealthy', reason: 'x', healthyForMs: 0 },
            restarts,
          )
          if (!decision.restart) {
            expect(decision.reason).toMatch(/times in a row$/)
            return
          }
          restarts = decision.attempt
        }
        throw new Error(`still restarting after ${restart.maxRetries + 1} failures in a row`)
      }),
    )
  })

  test('serving well for resetAfterMs starts a fresh budget', () => {
    const restart = { policy: 'always' as const, maxRetries: 2 }
    const long = DEFAULT_BACKOFF.resetAfterMs
    expect(decideRestart(restart, { kind: 'exited', code: 1, ranForMs: long }, 2)).toMatchObject({
      restart: true,
      attempt: 1,
    })
    expect(decideRestart(restart, { kind: 'unhealthy', reason: 'x', healthyForMs: long }, 2)).toMatchObject({
      restart: true,
      attempt: 1,
    })
    expect(decideRestart(restart, { kind: 'unhealthy', reason: 'x', healthyForMs: 0 }, 2)).toEqual({
      restart: false,
      reason: 'unhealthy: x, 3 times in a row',
    })
  })
})

describe('runningPhase', () => {
  test('a slot restarted in its budget is never ready before it settled; one never restarted is as its check says', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.boolean(), fc.nat(5000), (restarts, ready, ms) => {
        const shown = runningPhase(restarts, ready, ms)
        if (shown.ready) expect(shown.phase).toBe('running')
        if (restarts === 0) expect(shown).toEqual({ phase: 'running', ready })
        else expect(shown.ready).toBe(ready && ms >= RESTART_SETTLE_MS)
        expect(shown.phase === 'restarting').toBe(restarts > 0 && !shown.ready)
      }),
    )
  })
})
