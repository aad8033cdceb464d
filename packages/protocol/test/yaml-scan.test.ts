import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { stringify } from 'yaml'
import { MAX_SPEC_DEPTH, parseWorkloadFile, readApplyFile, scanYaml } from '../src/index.js'

const limits = { maxDepth: 10_000, maxDocuments: 10_000 }

/** Collections nested in a value: a scalar 0, a list or map one more than its deepest child. */
function nesting(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0
  const children = Array.isArray(value) ? value : Object.values(value)
  return 1 + Math.max(0, ...children.map(nesting))
}

const tree = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null)),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), tie('value'), { maxKeys: 3 }),
  ),
})).value

describe('scanYaml', () => {
  test('never counts fewer levels than the document nests, in block, flow or JSON form', () => {
    fc.assert(
      fc.property(tree, fc.constantFrom('block', 'flow', 'json'), (value, form) => {
        const text =
          form === 'json'
            ? JSON.stringify(value)
            : stringify(value, form === 'flow' ? { collectionStyle: 'flow' } : { indent: 2 })
        expect(scanYaml(text, limits).depth).toBeGreaterThanOrEqual(nesting(value))
      }),
      { numRuns: 500 },
    )
  })

  test('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        expect(scanYaml(text, limits).depth).toBeGreaterThanOrEqual(0)
      }),
    )
  })

  test('a block scalar is text: its indentation does not reset the levels around it', () => {
    // Each block scalar popped the indentation stack, so that levels after it went uncounted.
    const lines: string[] = []
    for (let level = 0; level < 40; level++) {
      lines.push(`${' '.repeat(level)}k${level}:`)
      if (level % 5 === 4) lines.push(`${' '.repeat(level + 1)}text: |`, `${' '.repeat(level + 3)}body`)
    }
    expect(scanYaml(`${lines.join('\n')}\n  x: 1\n`, limits).depth).toBeGreaterThanOrEqual(40)
  })

  test('compact sequences nest as written: `- - - x` is three levels', () => {
    expect(scanYaml('- - - x\n', limits).depth).toBeGreaterThanOrEqual(3)
    expect(scanYaml(`${'- '.repeat(100)}x\n`, { maxDepth: 32, maxDocuments: 10 }).tooDeepAt).toBe(1)
  })

  test('stops at the first line past the limit, and counts documents', () => {
    const text = `a: 1\nb:\n  c: ${'['.repeat(50)}${']'.repeat(50)}\n`
    expect(scanYaml(text, { maxDepth: 32, maxDocuments: 10 }).tooDeepAt).toBe(3)
    expect(scanYaml('a: 1\n---\nb: 2\n---\nc: 3\n', limits).documents).toBe(3)
    expect(scanYaml('---\n'.repeat(5000), { maxDepth: 32, maxDocuments: 1000 }).documents).toBe(1001)
  })
})

describe('parseWorkloadFile against hostile texts', () => {
  test('refuses deep nesting in a sentence, at once, however deep', () => {
    for (const text of [
      `a: ${'['.repeat(1000)}${']'.repeat(1000)}`,
      `a: ${'{a: '.repeat(100_000)}1${'}'.repeat(100_000)}`,
      `${'- '.repeat(400_000)}1`,
      Array.from({ length: 1400 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
    ]) {
      const result = parseWorkloadFile(text)
      expect(result.ok).toBe(false)
      if (!result.ok) expect(result.problems[0]).toMatch(`nests deeper than ${MAX_SPEC_DEPTH} levels`)
    }
  })

  test('refuses a list of too many workloads', () => {
    const result = parseWorkloadFile('- 1\n'.repeat(1500))
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.problems).toEqual(['the file declares more than 1000 workloads, the limit'])
  })

  test('finds a key given twice in one pass, with its line', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i}: v`).join('\n')
    const result = parseWorkloadFile(`${keys}\nk7: again\n`)
    expect(result.ok).toBe(false)
    if (!result.ok)
      expect(result.problems).toEqual([expect.stringMatching(/key "k7" appears twice .*line 5001/)])
  })
})

describe('readApplyFile (the CLI reads spec and Compose files)', () => {
  test('refuses deep nesting before parsing, as the daemon does', () => {
    const result = readApplyFile(`a: ${'['.repeat(250_000)}${']'.repeat(250_000)}`, { environment: {} })
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.problems[0]).toMatch(`nests deeper than ${MAX_SPEC_DEPTH} levels`)
  })

  test('finds a duplicate key in a Compose file in one pass', () => {
    const services = Array.from({ length: 5000 }, (_, i) => `  s${i}: { image: x }`).join('\n')
    const result = readApplyFile(`services:\n${services}\n  s5: { image: y }\n`, { environment: {} })
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.problems).toEqual([expect.stringMatching(/key "s5" appears twice/)])
  })
})
