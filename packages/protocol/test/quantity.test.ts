import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  formatCpu,
  formatMemory,
  MAX_CPU_MILLIS,
  MAX_MEMORY_BYTES,
  MIN_MEMORY_BYTES,
  parseCpu,
  parseMemory,
} from '../src/index.js'

const KI = 2 ** 10
const MI = 2 ** 20
const GI = 2 ** 30

describe('formatCpu', () => {
  test.each([
    [4000, '4'],
    [500, '500m'],
    [1500, '1500m'],
    [0, '0'],
  ])('%i millicores read %j', (millis, text) => {
    expect(formatCpu(millis)).toBe(text)
  })

  test('reads back as the same millicores', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_CPU_MILLIS }), (millis) => {
        expect(parseCpu(formatCpu(millis))).toBe(millis)
      }),
    )
  })
})

describe('formatMemory', () => {
  test.each([
    [512 * MI, '512Mi'],
    [1536 * MI, '1.5Gi'],
    [8_232_660_992, '7.66Gi'], // a machine's 8 GB: rounded down, never up
    [GI - 1, '1023.99Mi'],
    [1536, '1.5Ki'],
    [1000, '1000B'],
    [0, '0'],
    [4 * 2 ** 40, '4Ti'],
  ])('%i bytes read %j', (bytes, text) => {
    expect(formatMemory(bytes)).toBe(text)
  })

  test('reads back in the spec grammar as at most the bytes, and less by under 1%', () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_MEMORY_BYTES, max: MAX_MEMORY_BYTES / 2 }), (bytes) => {
        const back = parseMemory(formatMemory(bytes))
        expect(typeof back).toBe('number')
        expect(back).toBeLessThanOrEqual(bytes)
        expect(back).toBeGreaterThan(bytes * 0.99)
      }),
    )
  })

  test('reads back exactly whole hundredths of a unit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 102_399 }), fc.constantFrom(KI, MI, GI), (hundredths, unit) => {
        const bytes = (hundredths * unit) / 100
        fc.pre(Number.isInteger(bytes) && bytes >= MIN_MEMORY_BYTES)
        expect(parseMemory(formatMemory(bytes))).toBe(bytes)
      }),
    )
  })
})

describe('parseCpu and parseMemory', () => {
  test('say what is wrong in a sentence', () => {
    expect(parseCpu('2 cores')).toBe(
      '"2 cores" is not a CPU amount (use cores, like 0.5 or "2", or millicores, like "250m")',
    )
    expect(parseCpu('0.0001')).toBe('"0.0001" is less than 1m, a thousandth of a core')
    expect(parseMemory('64Q')).toBe('"64Q" is not a size (use bytes, or a unit: "64Mi", "1Gi", "500M")')
    expect(parseMemory(512)).toBe(
      '512 is less than the 1Mi minimum (a bare number is bytes: did you mean "512Mi"?)',
    )
  })
})
