import { describe, expect, it } from 'vitest'
import { parseExposition, sampleValue } from './prometheus-text.js'

// The reader the metrics test relies on must refuse what a scrape would refuse.

const good = [
  '# HELP up whether it is up',
  '# TYPE up gauge',
  'up 1',
  '# HELP req_total requests',
  '# TYPE req_total counter',
  'req_total{route="GET /v1/nodes",status="200"} 3',
  'req_total{route="a\\"b\\\\c\\nd",status="500"} 1e3',
  '# HELP lat_seconds latency',
  '# TYPE lat_seconds histogram',
  'lat_seconds_bucket{le="0.1"} 1',
  'lat_seconds_bucket{le="+Inf"} 2',
  'lat_seconds_sum 0.3',
  'lat_seconds_count 2',
  '',
].join('\n')

describe('the exposition reader', () => {
  it('reads a valid exposition', () => {
    const families = parseExposition(good)
    expect(sampleValue(families, 'req_total', { route: 'a"b\\c\nd' })).toBe(1000)
    expect(families.get('lat_seconds')?.samples).toHaveLength(4)
  })

  const broken: [string, (text: string) => string][] = [
    ['no TYPE', (t) => t.replace('# TYPE up gauge\n', '')],
    ['a second TYPE', (t) => t.replace('# TYPE up gauge\n', '# TYPE up gauge\n# TYPE up gauge\n')],
    ['a bad metric name', (t) => t.replaceAll('up', '1up')],
    ['a bad label name', (t) => t.replace('status="200"', '__status="200"')],
    ['a bad escape', (t) => t.replace('a\\"b', 'a\\tb')],
    ['a bad value', (t) => t.replace('up 1', 'up one')],
    ['a duplicate series', (t) => t.replace('up 1\n', 'up 1\nup 2\n')],
    ['samples apart', (t) => `${t}up 3\n`],
    ['buckets not cumulative', (t) => t.replace('le="+Inf"} 2', 'le="+Inf"} 0')],
    ['a count off its +Inf bucket', (t) => t.replace('lat_seconds_count 2', 'lat_seconds_count 5')],
    ['no final newline', (t) => t.trimEnd()],
    ['unterminated labels', (t) => t.replace('status="200"} 3', 'status="200 3')],
  ]
  it.each(broken)('refuses %s', (_, breakIt) => {
    expect(() => parseExposition(breakIt(good))).toThrow()
  })
})
