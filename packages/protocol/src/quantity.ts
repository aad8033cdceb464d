/**
 * CPU and memory amounts: one grammar for what people write (a workload's `resources`, the
 * daemon's `--cpu` and `--memory`) and one way of printing amounts back (`gary nodes`, the reasons
 * `gary ps` gives) in that same grammar.
 */

import { quote } from './quote.js'

export const MIN_CPU_MILLIS = 1
export const MAX_CPU_MILLIS = 1024 * 1000
export const MIN_MEMORY_BYTES = 2 ** 20
export const MAX_MEMORY_BYTES = 2 ** 50

/**
 * Millicores from cores (the number `0.5`, or the text `"2"` or `"0.5"`) or millicores
 * (`"250m"`), from 1m to 1024 cores; otherwise a sentence saying what is wrong, which the caller
 * prefixes with where the amount came from.
 */
export function parseCpu(value: unknown): number | string {
  let millis: number
  if (typeof value === 'number' && Number.isFinite(value)) {
    millis = value * 1000
  } else if (typeof value === 'string' && /^\d+(\.\d+)?m?$/.test(value.trim())) {
    const text = value.trim()
    millis = text.endsWith('m') ? Number(text.slice(0, -1)) : Number(text) * 1000
  } else {
    return `${quote(value)} is not a CPU amount (use cores, like 0.5 or "2", or millicores, like "250m")`
  }
  millis = Math.round(millis)
  if (millis < MIN_CPU_MILLIS) return `${quote(value)} is less than 1m, a thousandth of a core`
  if (millis > MAX_CPU_MILLIS) return `${quote(value)} is more than ${MAX_CPU_MILLIS / 1000} cores`
  return millis
}

const PARSED_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
}

/**
 * Bytes from a number of bytes or a text with an optional unit (`"64Mi"`, `"1Gi"`, `"500M"`,
 * `"128 MiB"`), from 1Mi to 1Pi; otherwise a sentence saying what is wrong.
 */
export function parseMemory(value: unknown): number | string {
  let bytes: number
  if (typeof value === 'number' && Number.isFinite(value)) {
    bytes = value
  } else {
    const match =
      typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*(k|K|M|G|T|Ki|Mi|Gi|Ti)?B?$/.exec(value.trim()) : null
    if (match === null) return `${quote(value)} is not a size (use bytes, or a unit: "64Mi", "1Gi", "500M")`
    bytes = Number(match[1]) * (PARSED_UNITS[match[2] ?? ''] ?? Number.NaN)
  }
  bytes = Math.round(bytes)
  if (!(bytes >= MIN_MEMORY_BYTES)) {
    const hint = typeof value === 'number' ? ` (a bare number is bytes: did you mean "${value}Mi"?)` : ''
    return `${quote(value)} is less than the 1Mi minimum${hint}`
  }
  if (bytes > MAX_MEMORY_BYTES) return `${quote(value)} is more than the 1Pi maximum`
  return bytes
}

/** Millicores as a person writes them: `4`, and `500m` for half a core. */
export function formatCpu(millis: number): string {
  const value = Math.max(0, millis)
  return value % 1000 === 0 ? String(value / 1000) : `${value}m`
}

const PRINTED_UNITS: [string, number][] = [
  ['Ti', 2 ** 40],
  ['Gi', 2 ** 30],
  ['Mi', 2 ** 20],
  ['Ki', 2 ** 10],
]

/**
 * Bytes in the largest binary unit they reach, to two decimals at most, rounded down so that an
 * amount free never reads as more than it is: `512Mi`, `1.5Gi`, `7.66Gi`, `1000B`.
 */
export function formatMemory(bytes: number): string {
  const value = Math.max(0, Math.floor(bytes))
  if (value === 0) return '0'
  for (const [unit, size] of PRINTED_UNITS) {
    if (value < size) continue
    const whole = Math.floor(value / size)
    const hundredths = Math.floor(((value - whole * size) * 100) / size)
    return `${(whole * 100 + hundredths) / 100}${unit}`
  }
  return `${value}B`
}
