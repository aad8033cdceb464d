import { afterEach, describe, expect, test } from 'vitest'
// The worker runs compiled code: the parser is taken from the build (`npx tsc -b`), beside it.
import { SpecParser, SpecTooCostlyError } from '../dist/api/spec-parser.js'

const parsers: SpecParser[] = []
afterEach(async () => {
  await Promise.all(parsers.splice(0).map((parser) => parser.stop()))
})

describe('SpecParser', () => {
  test('parses small texts at once and large ones in the worker, alike', async () => {
    const parser = new SpecParser({ inlineBytes: 64 })
    parsers.push(parser)
    const small = await parser.parse('name: a\nimage: x\n')
    const large = await parser.parse(`name: a\nimage: x\nenv: { NOTE: "${'x'.repeat(200)}" }\n`)
    expect(small.ok).toBe(true)
    expect(large.ok).toBe(true)
  })

  test('stops a parse that takes too long, and parses the next text with a new worker', async () => {
    const parser = new SpecParser({ inlineBytes: 64, timeoutMs: 100 })
    parsers.push(parser)
    const slow = parser.parse(`a: [${'1,'.repeat(500_000)}1]`)
    await expect(slow).rejects.toBeInstanceOf(SpecTooCostlyError)
    await expect(slow).rejects.toThrow('took more than 0.1 s')
    const relaxed = new SpecParser({ inlineBytes: 64 })
    parsers.push(relaxed)
    expect((await relaxed.parse(`name: b\nimage: x\nenv: { A: "${'y'.repeat(100)}" }\n`)).ok).toBe(true)
    // The same parser recovers too, once its worker was replaced.
    const after = await parser.parse('name: c\nimage: x\n')
    expect(after.ok).toBe(true)
  })

  test('refuses a text that needs more memory than the worker has', async () => {
    const parser = new SpecParser({ inlineBytes: 64, heapMb: 32, timeoutMs: 30_000 })
    parsers.push(parser)
    const spec = `name: a\nimage: x\nenv: { NOTE: "${'x'.repeat(200)}" }\n`
    expect((await parser.parse(spec)).ok).toBe(true)
    const huge = parser.parse(`a: [${'{a: 1},'.repeat(120_000)}]`)
    await expect(huge).rejects.toBeInstanceOf(SpecTooCostlyError)
    await expect(huge).rejects.toThrow('needs more than 32 MiB')
    expect((await parser.parse(spec)).ok).toBe(true)
  })
})
