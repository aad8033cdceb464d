import { ConfigError } from '../errors.js'

/** Parses CPU as cores (`2`, `0.5`) or millicores (`250m`) into millicores. */
export function parseCpuMillis(text: string, what = 'cpu'): number {
  const match = /^(\d+(?:\.\d+)?)(m?)$/.exec(text.trim())
  if (match === null)
    throw new ConfigError(
      `${what}: "${text}" is not a CPU amount (cores like 2 or 0.5, or millicores like 250m)`,
    )
  const value = Number(match[1])
  return Math.round(match[2] === 'm' ? value : value * 1000)
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
}

/** Parses memory as bytes (`1048576`) or with a unit (`64Mi`, `1Gi`, `500M`) into bytes. */
export function parseMemoryBytes(text: string, what = 'memory'): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(text.trim())
  if (match === null)
    throw new ConfigError(`${what}: "${text}" is not a size (bytes, or with a unit like 64Mi or 1Gi)`)
  return Math.round(Number(match[1]) * (MEMORY_UNITS[match[2] ?? ''] ?? 1))
}

/** Formats bytes with a binary unit for tables. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)}${units[unit]}`
}
