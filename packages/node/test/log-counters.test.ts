import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { COUNTED_LOG_LINES, refusalKind } from '../src/metrics/log-counters.js'

const SRC = new URL('../src/', import.meta.url).pathname

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [readFileSync(join(dir, entry.name), 'utf8')]
        : [],
  )
}

describe('counted log lines', () => {
  // A renamed log line would silently stop its counter: each must still be logged somewhere.
  const text = sources(SRC)
    .filter((source) => !source.includes('COUNTED_LOG_LINES = {'))
    .join('\n')
  it.each(Object.entries(COUNTED_LOG_LINES))('%s is still logged as %j', (_, msg) => {
    expect(text).toContain(`'${msg}'`)
  })

  it('sorts refusal reasons into a few kinds', () => {
    expect(refusalKind('image gary/missing:1 not found on 12D3KooW')).toBe('image')
    expect(refusalKind('exited with code 1; restart policy is never')).toBe('restart-policy')
    expect(refusalKind('exited with code 3, 4 times in a row')).toBe('retries')
    expect(refusalKind(undefined)).toBe('other')
  })
})
