import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { didYouMean } from '../src/index.js'

const FIELDS = ['name', 'image', 'command', 'args', 'env', 'mode', 'replicas', 'resources', 'ports', 'health']
const name = fc.stringMatching(/^[a-z]{1,12}$/)

describe('didYouMean', () => {
  test('property: it only ever suggests a known name, and a known name (in any case) is itself', () => {
    fc.assert(
      fc.property(name, fc.array(name, { maxLength: 8 }), (typed, known) => {
        const guess = didYouMean(typed, known)
        if (guess !== undefined) expect(known).toContain(guess)
        for (const field of known) expect(didYouMean(field.toUpperCase(), known)?.toLowerCase()).toBe(field)
      }),
    )
  })

  test('property: one typo (a letter dropped, doubled, swapped or changed) in a long name finds it', () => {
    const typo = fc
      .record({
        field: fc.constantFrom(...FIELDS.filter((field) => field.length >= 5)),
        at: fc.nat(),
        kind: fc.constantFrom('drop', 'double', 'swap', 'change'),
        letter: fc.constantFrom(...'qxz'.split('')),
      })
      .map(({ field, at, kind, letter }) => {
        const i = at % (field.length - 1)
        const typed =
          kind === 'drop'
            ? field.slice(0, i) + field.slice(i + 1)
            : kind === 'double'
              ? field.slice(0, i) + field[i] + field.slice(i)
              : kind === 'swap'
                ? field.slice(0, i) + field[i + 1] + field[i] + field.slice(i + 2)
                : field.slice(0, i) + letter + field.slice(i + 1)
        return { field, typed }
      })
    fc.assert(
      fc.property(typo, ({ field, typed }) => {
        expect(didYouMean(typed, FIELDS)).toBe(field)
      }),
    )
  })

  test('a synonym from Compose or Kubernetes, or a typo of one, names the Gary field', () => {
    expect(didYouMean('environment', FIELDS, { environment: 'env' })).toBe('env')
    expect(didYouMean('enviroment', FIELDS, { environment: 'env' })).toBe('env')
    expect(didYouMean('zzzzzz', FIELDS)).toBeUndefined()
  })
})
