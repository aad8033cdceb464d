import { formatMemory, parseMemory } from '../quantity.js'

/** Compose's byte values (`512m`, `1gb`, `2048k`, `100000`): binary units, case-insensitive. */
export function composeBytes(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.round(value)
  if (typeof value !== 'string') return undefined
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(value.trim())
  if (match === null) return undefined
  const power = ['', 'k', 'm', 'g', 't'].indexOf((match[2] ?? '').toLowerCase())
  return Math.round(Number(match[1]) * 1024 ** power)
}

/** A byte count as Gary prints it (`formatMemory`), or the bare count where that reads back as less. */
export function garyMemory(bytes: number): string | number {
  const text = formatMemory(bytes)
  return parseMemory(text) === bytes ? text : bytes
}

/** Compose's CPU count (`'0.5'`, `2`) as millicores. */
export function composeCpuMillis(value: unknown): number | undefined {
  const number =
    typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN
  if (typeof value === 'string' && !/^\d+(\.\d+)?$/.test(value.trim())) return undefined
  return Number.isFinite(number) && number > 0 ? Math.round(number * 1000) : undefined
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}

/** Compose's durations (Go's: `1m30s`, `10s`, `500ms`) as milliseconds. */
export function composeDurationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined
  let ms = 0
  for (const [, number, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    ms += Number(number) * (DURATION_UNITS[unit ?? ''] ?? Number.NaN)
  }
  return Math.round(ms)
}

/** Milliseconds as a Gary duration: `30s`, `1500ms`. */
export function garyDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
