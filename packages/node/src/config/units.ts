import { parseCpu, parseMemory } from '@gary/protocol'
import { ConfigError } from '../errors.js'

/** `--cpu` and its kin, in the grammar of a spec's `resources.cpu`, into millicores. */
export function parseCpuMillis(text: string, what = 'cpu'): number {
  const parsed = parseCpu(text)
  if (typeof parsed === 'string') throw new ConfigError(`${what}: ${parsed}`)
  return parsed
}

/** `--memory` and its kin, in the grammar of a spec's `resources.memory`, into bytes. */
export function parseMemoryBytes(text: string, what = 'memory'): number {
  const parsed = parseMemory(text)
  if (typeof parsed === 'string') throw new ConfigError(`${what}: ${parsed}`)
  return parsed
}
