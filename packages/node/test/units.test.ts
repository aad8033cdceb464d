import { normaliseWorkload } from '@gary/protocol'
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { parseCpuMillis, parseMemoryBytes } from '../src/config/units.js'

// The daemon's --cpu and --memory read amounts in the grammar of a spec's `resources`: whatever a
// spec accepts, a flag accepts as the same amount, and whatever a spec refuses, a flag refuses
// with the same sentence.

const TOKENS = [
  '0',
  '1',
  '2',
  '5',
  '64',
  '1500',
  '.',
  '.5',
  'm',
  'k',
  'K',
  'M',
  'Mi',
  'G',
  'Gi',
  'Ti',
  'B',
  ' ',
  '-',
  'e3',
  'x',
]
const amount = fc
  .array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 5 })
  .map((tokens) => tokens.join(''))

/** What a spec makes of `text` as `resources.<field>`: the amount, or the sentence after the field. */
function fromSpec(field: 'cpu' | 'memory', text: string): number | string {
  const result = normaliseWorkload({ name: 'a', image: 'x', resources: { [field]: text } })
  if (result.ok) {
    const { cpuMillis, memoryBytes } = (
      result.workloads[0] as { resources: { cpuMillis: number; memoryBytes: number } }
    ).resources
    return field === 'cpu' ? cpuMillis : memoryBytes
  }
  const prefix = `spec.resources.${field}: `
  const problem = result.problems.find((p) => p.startsWith(prefix)) as string
  return problem.slice(prefix.length)
}

function fromFlag(parse: (text: string) => number, field: string, text: string): number | string {
  try {
    return parse(text)
  } catch (err) {
    expect((err as Error).name).toBe('ConfigError')
    return (err as Error).message.slice(`${field}: `.length)
  }
}

test('--cpu accepts exactly what a spec accepts, as the same millicores', () => {
  fc.assert(
    fc.property(amount, (text) => {
      expect(fromFlag(parseCpuMillis, 'cpu', text)).toBe(fromSpec('cpu', text))
    }),
  )
})

test('--memory accepts exactly what a spec accepts, as the same bytes', () => {
  fc.assert(
    fc.property(amount, (text) => {
      expect(fromFlag(parseMemoryBytes, 'memory', text)).toBe(fromSpec('memory', text))
    }),
  )
})
