/**
 * A strict reader of Prometheus' text exposition format (0.0.4), checking what `promtool check
 * metrics` checks and what a scrape would choke on: HELP and TYPE lines (once per family, TYPE
 * before its samples), metric and label names, label value escapes, values, no duplicate series,
 * a family's samples together, histograms whose buckets add up. Throws an Error naming the line.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: MetricType
  help: string | undefined
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export function parseExposition(text: string): Map<string, Family> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline')
  const families = new Map<string, Family>()
  const seenSeries = new Set<string>()
  const closed = new Set<string>()
  let current: string | undefined
  const lines = text.split('\n').slice(0, -1)
  lines.forEach((line, index) => {
    const where = `line ${index + 1} (${JSON.stringify(line.slice(0, 80))})`
    const fail = (why: string): never => {
      throw new Error(`${where}: ${why}`)
    }
    if (line === '') return
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
      if (match === null) return // another comment
      const [, keyword, name, rest] = match as unknown as [string, string, string, string | undefined]
      if (!METRIC_NAME.test(name)) fail(`bad metric name ${name}`)
      const family = familyOf(families, name)
      if (closed.has(name)) fail(`${keyword} of ${name} after its samples ended`)
      if (keyword === 'HELP') {
        if (family.help !== undefined) fail(`second HELP for ${name}`)
        family.help = unescapeHelp(rest ?? '', fail)
      } else {
        if (family.samples.length > 0) fail(`TYPE of ${name} after its samples`)
        if (family.typed) fail(`second TYPE for ${name}`)
        if (!TYPES.has(rest as MetricType)) fail(`unknown type ${rest}`)
        family.type = rest as MetricType
        family.typed = true
      }
      if (current !== undefined && current !== name) closed.add(current)
      current = name
      return
    }
    const sample = parseSample(line, fail)
    const familyName = familyNameOf(families, sample.name)
    const family = familyOf(families, familyName)
    if (!family.typed) fail(`sample of ${familyName} with no TYPE line before it`)
    if (closed.has(familyName)) fail(`samples of ${familyName} are not together`)
    if (current !== undefined && current !== familyName) closed.add(current)
    current = familyName
    const series = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`
    if (seenSeries.has(series)) fail(`duplicate series ${series}`)
    seenSeries.add(series)
    checkSuffix(family, sample, fail)
    family.samples.push(sample)
  })
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family)
  return new Map([...families].map(([name, { typed: _, ...family }]) => [name, family]))
}

/** The one sample of `name` with exactly these labels (and any others when `partial`). */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue
      if (Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) return sample.value
    }
  }
  return undefined
}

type Building = Family & { typed: boolean }

function familyOf(families: Map<string, Family>, name: string): Building {
  let family = families.get(name) as Building | undefined
  if (family === undefined) {
    family = { name, type: 'untyped', help: undefined, samples: [], typed: false }
    families.set(name, family)
  }
  return family
}

/** `x_bucket`, `x_sum` and `x_count` belong to histogram or summary `x`. */
function familyNameOf(families: Map<string, Family>, name: string): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const base = families.get(name.slice(0, -suffix.length))
    if (base?.type === 'histogram' || base?.type === 'summary') return base.name
  }
  return name
}

function checkSuffix(family: Family, sample: Sample, fail: (why: string) => never): void {
  if (family.type === 'histogram') {
    if (![`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(sample.name))
      fail(`${sample.name} is no series of histogram ${family.name}`)
    if (sample.name.endsWith('_bucket') && sample.labels.le === undefined) fail('a bucket without le')
  } else if (family.type === 'summary') {
    if (sample.name === family.name && sample.labels.quantile === undefined)
      fail('a quantile without quantile')
  } else if (sample.name !== family.name) fail(`${sample.name} is not ${family.name}`)
  if (family.type === 'counter' && sample.value < 0) fail('a negative counter')
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number }>()
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const group = groups.get(key) ?? { buckets: [] }
    groups.set(key, group)
    if (sample.name.endsWith('_bucket')) group.buckets.push([parseValue(le!), sample.value])
    if (sample.name.endsWith('_count')) group.count = sample.value
  }
  for (const [key, group] of groups) {
    const buckets = group.buckets.sort((a, b) => a[0] - b[0])
    if (buckets.at(-1)?.[0] !== Number.POSITIVE_INFINITY)
      throw new Error(`histogram ${family.name}${key} has no +Inf bucket`)
    buckets.forEach(([, count], i) => {
      if (i > 0 && count < buckets[i - 1]![1])
        throw new Error(`histogram ${family.name}${key}: buckets are not cumulative`)
    })
    if (group.count !== buckets.at(-1)![1])
      throw new Error(`histogram ${family.name}${key}: _count is not the +Inf bucket`)
  }
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const name = /^[^{\s]+/.exec(line)?.[0] ?? fail('no metric name')
  if (!METRIC_NAME.test(name)) fail(`bad metric name ${name}`)
  let at = name.length
  const labels: Record<string, string> = {}
  if (line[at] === '{') {
    at++
    while (line[at] !== '}') {
      const labelName = /^[^=]*/.exec(line.slice(at))![0]
      if (!LABEL_NAME.test(labelName) || labelName.startsWith('__')) fail(`bad label name ${labelName}`)
      if (labelName in labels) fail(`label ${labelName} twice`)
      at += labelName.length
      if (line.slice(at, at + 2) !== '="') fail(`label ${labelName} without ="`)
      at += 2
      let value = ''
      for (;;) {
        const c = line[at]
        if (c === undefined) fail('unterminated label value')
        if (c === '"') break
        if (c === '\\') {
          const next = line[at + 1]
          if (next === 'n') value += '\n'
          else if (next === '\\' || next === '"') value += next
          else fail(`bad escape \\${next}`)
          at += 2
        } else {
          value += c
          at++
        }
      }
      labels[labelName] = value
      at++
      if (line[at] === ',') at++
      else if (line[at] !== '}') fail('labels not separated by a comma')
    }
    at++
  }
  const rest = line.slice(at)
  const match = /^ (\S+)(?: (-?\d+))?$/.exec(rest)
  if (match === null) fail('not "name{labels} value [timestamp]"')
  return { name, labels, value: parseValue(match![1]!, fail) }
}

/** A value as Go's ParseFloat reads it, which Prometheus uses: NaN and Inf in any case. */
function parseValue(text: string, fail?: (why: string) => never): number {
  const special = /^([-+]?)(inf|infinity|nan)$/i.exec(text)
  if (special !== null) {
    if (special[2]!.toLowerCase() === 'nan') return Number.NaN
    return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    if (fail !== undefined) fail(`bad value ${text}`)
    throw new Error(`bad value ${text}`)
  }
  return Number(text)
}

function unescapeHelp(text: string, fail: (why: string) => never): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === 'n') return '\n'
    if (c === '\\') return '\\'
    return fail(`bad escape in HELP: \\${c}`)
  })
}
