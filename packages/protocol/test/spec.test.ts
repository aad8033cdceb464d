import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { stringify } from 'yaml'
import {
  canonicalJson,
  generationOf,
  MAX_SPEC_FILE_BYTES,
  normaliseWorkload,
  type ParseResult,
  parseWorkloadFile,
  portConflicts,
  type Workload,
  WorkloadSchema,
} from '../src/index.js'
import { labelKey } from './arbitraries.js'

const MI = 1024 * 1024

function workloads(result: ParseResult): Workload[] {
  if (!result.ok) expect.fail(`expected workloads, got problems:\n${result.problems.join('\n')}`)
  return result.workloads
}

function problems(result: ParseResult): string[] {
  if (result.ok) expect.fail(`expected problems, got ${JSON.stringify(result.workloads)}`)
  expect(result.problems.length).toBeGreaterThan(0)
  return result.problems
}

const only = (result: ParseResult): Workload => {
  const list = workloads(result)
  expect(list).toHaveLength(1)
  return list[0]!
}

// ---- arbitraries for the input form ----

const dict = <T>(key: fc.Arbitrary<string>, value: fc.Arbitrary<T>, maxKeys: number) =>
  fc.dictionary(key, value, { maxKeys, noNullPrototype: true })
const opt = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined })

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
const envKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/).filter((key) => key !== '__proto__')
const word = fc.string({ maxLength: 12 })
const cpu = fc.oneof(
  fc.integer({ min: 1, max: 64 }),
  fc.constantFrom(0.25, 0.5, 1.5),
  fc.constantFrom('2', '250m', '0.5', '1000m'),
)
const memory = fc.oneof(
  fc.constantFrom('64Mi', '1Gi', '500M', '128MiB', '2G'),
  fc.integer({ min: MI, max: 2 ** 40 }),
)
const duration = fc.constantFrom('5s', '500ms', '1m', '1m30s', '2h')
const port = fc.integer({ min: 1, max: 65_535 })

/** Valid specs in the input form, with any subset of the optional fields. */
const inputSpec = fc
  .record(
    {
      name,
      image: fc.stringMatching(/^[a-z0-9./:@-]{1,40}$/),
      command: fc.array(word, { maxLength: 3 }),
      args: fc.array(word, { maxLength: 3 }),
      env: dict(envKey, word, 4),
      replicas: fc.integer({ min: 0, max: 10_000 }),
      mode: fc.constant('replicated'),
      resources: fc.record({ cpu, memory }, { requiredKeys: [], noNullPrototype: true }),
      ports: fc.uniqueArray(
        fc.record(
          { container: port, host: port, protocol: fc.constantFrom('tcp', 'udp') },
          { requiredKeys: ['container'], noNullPrototype: true },
        ),
        {
          maxLength: 3,
          // No two ports may publish the same container port or bind the same host port.
          comparator: (a, b) =>
            (a.protocol ?? 'tcp') === (b.protocol ?? 'tcp') &&
            (a.container === b.container || (a.host !== undefined && a.host === b.host)),
        },
      ),
      constraints: dict(labelKey, fc.string({ maxLength: 63 }), 3),
      restart: fc.record(
        { policy: fc.constantFrom('always', 'on-failure', 'never'), maxRetries: fc.nat(100) },
        { requiredKeys: [], noNullPrototype: true },
      ),
      health: fc.record(
        {
          check: fc.oneof(
            fc.record({ command: fc.array(word, { minLength: 1, maxLength: 3 }) }, { noNullPrototype: true }),
            fc.record(
              {
                http: fc.record({ path: fc.constantFrom('/', '/healthz'), port }, { noNullPrototype: true }),
              },
              { noNullPrototype: true },
            ),
          ),
          interval: opt(duration),
          timeout: opt(duration),
          retries: opt(fc.integer({ min: 1, max: 10 })),
        },
        { noNullPrototype: true },
      ),
      update: fc.record(
        {
          maxUnavailable: fc.integer({ min: 1, max: 10 }),
          monitor: opt(fc.constantFrom('0s', '500ms', '5s', '1m')),
          failureAction: opt(fc.constantFrom('rollback', 'pause')),
          order: opt(fc.constantFrom('stop-first', 'start-first')),
        },
        { requiredKeys: ['maxUnavailable'], noNullPrototype: true },
      ),
      labels: dict(labelKey, fc.string({ maxLength: 63 }), 3),
      partition: fc.oneof(
        fc.record(
          { minority: fc.constant('takeover'), after: duration, isolated: fc.constant('keep') },
          { requiredKeys: [], noNullPrototype: true },
        ),
        fc.record(
          { minority: fc.constant('keep'), isolated: fc.constantFrom('keep', 'stop'), stopAfter: duration },
          { requiredKeys: [], noNullPrototype: true },
        ),
      ),
    },
    { requiredKeys: ['name', 'image'], noNullPrototype: true },
  )
  .map((spec) => {
    if (spec.health === undefined) return spec
    const { check, interval, timeout, retries } = spec.health
    // Absent optional fields are left out, as a user would leave them out of a file.
    const health = JSON.parse(JSON.stringify({ ...check, interval, timeout, retries })) as Record<
      string,
      unknown
    >
    return { ...spec, health }
  })

/** The same data with the keys of every object in another order. */
function reorderKeys(value: unknown, order: fc.Stream<number>): unknown {
  if (Array.isArray(value)) return value.map((item) => reorderKeys(item, order))
  if (typeof value !== 'object' || value === null) return value
  const keyed = Object.entries(value).map(([key, inner]) => ({ key, inner, rank: order.next().value }))
  keyed.sort((a, b) => a.rank - b.rank)
  return Object.fromEntries(keyed.map(({ key, inner }) => [key, reorderKeys(inner, order)]))
}

// ---- examples ----

describe('parseWorkloadFile', () => {
  test('fills every default into a minimal spec', () => {
    expect(only(parseWorkloadFile('name: web\nimage: nginx:1.27\n'))).toStrictEqual({
      name: 'web',
      image: 'nginx:1.27',
      env: {},
      mode: 'replicated',
      replicas: 1,
      resources: { cpuMillis: 100, memoryBytes: 64 * MI },
      ports: [],
      constraints: {},
      restart: { policy: 'always', maxRetries: 5 },
      update: { maxUnavailable: 1, monitorMs: 5000, failureAction: 'rollback', order: 'stop-first' },
      labels: {},
    })
  })

  test('normalises a full spec: units, durations, ports', () => {
    const yaml = `
name: api
image: registry.example.com/api@sha256:abc
command: [/bin/api]
args: ["--port", "8080"]
env: { LOG_LEVEL: debug, _X: "1" }
replicas: 3
resources: { cpu: 250m, memory: 1Gi }
ports:
  - { container: 8080, host: 80 }
  - { container: 5353, protocol: udp }
constraints: { zone: eu-1 }
restart: { policy: on-failure, maxRetries: 2 }
health:
  http: { path: /healthz, port: 8080 }
  interval: 5s
  timeout: 500ms
update: { maxUnavailable: 2 }
labels: { team: core }
`
    expect(only(parseWorkloadFile(yaml))).toStrictEqual({
      name: 'api',
      image: 'registry.example.com/api@sha256:abc',
      command: ['/bin/api'],
      args: ['--port', '8080'],
      env: { LOG_LEVEL: 'debug', _X: '1' },
      mode: 'replicated',
      replicas: 3,
      resources: { cpuMillis: 250, memoryBytes: 1024 * MI },
      ports: [
        { containerPort: 8080, hostPort: 80, protocol: 'tcp' },
        { containerPort: 5353, protocol: 'udp' },
      ],
      constraints: { zone: 'eu-1' },
      restart: { policy: 'on-failure', maxRetries: 2 },
      health: { http: { path: '/healthz', port: 8080 }, intervalMs: 5000, timeoutMs: 500, retries: 3 },
      update: { maxUnavailable: 2, monitorMs: 5000, failureAction: 'rollback', order: 'stop-first' },
      labels: { team: 'core' },
    })
  })

  test.each([
    [0.5, 500],
    ['2', 2000],
    ['250m', 250],
    [2, 2000],
    ['0.1', 100],
  ])('reads cpu %j as %i millicores', (cpu, millis) => {
    expect(only(normaliseWorkload({ name: 'a', image: 'x', resources: { cpu } })).resources.cpuMillis).toBe(
      millis,
    )
  })

  test.each([
    ['64Mi', 64 * MI],
    ['1Gi', 1024 * MI],
    ['500M', 500_000_000],
    ['128MiB', 128 * MI],
    [5 * MI, 5 * MI],
  ])('reads memory %j as %i bytes', (memory, bytes) => {
    expect(
      only(normaliseWorkload({ name: 'a', image: 'x', resources: { memory } })).resources.memoryBytes,
    ).toBe(bytes)
  })

  test.each([
    ['5s', 5000],
    ['500ms', 500],
    ['1m', 60_000],
    ['1m30s', 90_000],
  ])('reads duration %j as %i ms', (interval, ms) => {
    const health = only(
      normaliseWorkload({ name: 'a', image: 'x', health: { command: ['true'], interval } }),
    ).health
    expect(health).toStrictEqual({ command: ['true'], intervalMs: ms, timeoutMs: 2000, retries: 3 })
  })

  test('lists every problem, each at its field path', () => {
    const yaml = `
name: Web
imagee: nginx
replicas: 2
mode: global
resources: { cpu: lots, memory: 64Q }
env: { 1BAD: x, PORT: 8080 }
ports: [{ container: 80 }, { container: 80, host: 0 }]
restart: { policy: sometimes }
health: { interval: 5 }
`
    const found = problems(parseWorkloadFile(yaml))
    const expected = [
      'spec.name: "Web" is not a valid name: names are lowercase (a-z, 0-9 and \'-\')',
      'spec.image: is required',
      'spec.imagee: unknown field',
      'spec.resources.cpu: "lots" is not a CPU amount',
      'spec.resources.memory: "64Q" is not a size',
      'spec.env["1BAD"]: is not a variable name',
      'spec.env.PORT: expected a string, got 8080',
      'spec.ports[1].host: must be at least 1',
      'spec.ports[1]: container 80/tcp appears twice',
      'spec.restart.policy: must be one of always, on-failure, never',
      'spec.replicas: must be left out when mode is global',
      'spec.health.interval: 5 is not a duration',
      'spec.health: needs a check',
    ]
    for (const problem of expected)
      expect(
        found.some((line) => line.startsWith(problem)),
        problem,
      ).toBe(true)
    expect(found).toHaveLength(expected.length)
  })

  test('a file with several documents gives every workload, in order', () => {
    const yaml = 'name: web\nimage: nginx\n---\nname: db\nimage: postgres\nreplicas: 0\n---\n'
    expect(workloads(parseWorkloadFile(yaml)).map((w) => [w.name, w.replicas])).toStrictEqual([
      ['web', 1],
      ['db', 0],
    ])
  })

  test('a JSON array of specs is a file too', () => {
    const json = JSON.stringify([
      { name: 'web', image: 'nginx' },
      { name: 'agent', image: 'agent', mode: 'global' },
    ])
    const list = workloads(parseWorkloadFile(json))
    expect(list.map((w) => [w.name, w.mode, w.replicas])).toStrictEqual([
      ['web', 'replicated', 1],
      ['agent', 'global', 0],
    ])
  })

  test('problems of several documents are numbered by document; nothing partial', () => {
    const yaml = 'name: web\nimage: nginx\n---\nname: db\nimage: postgres\nresources: { memory: 64Q }\n'
    expect(problems(parseWorkloadFile(yaml))).toStrictEqual([
      'spec[1].resources.memory: "64Q" is not a size (use bytes, or a unit: "64Mi", "1Gi", "500M")',
    ])
  })

  test('a name that appears twice is a problem', () => {
    const found = problems(parseWorkloadFile('name: web\nimage: a\n---\nname: web\nimage: b\n'))
    expect(found).toStrictEqual(['spec[1].name: name web appears twice (also in spec[0])'])
  })

  test('an uppercase name is refused: names are lowercase', () => {
    const found = problems(normaliseWorkload({ name: 'Web', image: 'nginx' }))
    expect(found).toHaveLength(1)
    expect(found[0]).toMatch(/^spec\.name: .*names are lowercase/)
  })

  test.each(['', '-web', 'web-', 'a'.repeat(64), 'we_b', 'wéb'])('name %j is refused', (bad) => {
    expect(problems(normaliseWorkload({ name: bad, image: 'nginx' }))[0]).toMatch(/^spec\.name: /)
  })

  test('an unknown field is a problem, not ignored', () => {
    expect(problems(parseWorkloadFile('name: web\nimagee: nginx\nimage: nginx\n'))).toStrictEqual([
      'spec.imagee: unknown field (did you mean image?)',
    ])
    expect(
      problems(normaliseWorkload({ name: 'a', image: 'x', health: { command: ['true'], every: '5s' } })),
    ).toEqual(['spec.health.every: unknown field'])
  })

  test.each([
    ['replica: 3', 'spec.replica: unknown field (did you mean replicas?)'],
    ['Image: x', 'spec.Image: unknown field (did you mean image?)'],
    ['enviroment: {}', 'spec.enviroment: unknown field (did you mean env?)'],
    ['environment: {}', 'spec.environment: unknown field (did you mean env?)'],
    ['resources: { cpus: 1 }', 'spec.resources.cpus: unknown field (did you mean cpu?)'],
    [
      'ports: [{ container: 80, hostPort: 8080 }]',
      'spec.ports[0].hostPort: unknown field (did you mean host?)',
    ],
    [
      'health: { command: ["true"], intreval: 5s }',
      'spec.health.intreval: unknown field (did you mean interval?)',
    ],
    ['zzzzzz: 1', 'spec.zzzzzz: unknown field'],
  ])('a typo %j names the field it most likely meant', (line, problem) => {
    expect(problems(parseWorkloadFile(`name: web\nimage: nginx\n${line}\n`))).toStrictEqual([problem])
  })

  test('replicas with mode global is a problem; global alone runs 0 counted replicas', () => {
    expect(problems(normaliseWorkload({ name: 'a', image: 'x', mode: 'global', replicas: 3 }))).toHaveLength(
      1,
    )
    expect(problems(normaliseWorkload({ name: 'a', image: 'x', mode: 'global', replicas: 3 }))[0]).toMatch(
      /^spec\.replicas: /,
    )
    expect(only(normaliseWorkload({ name: 'a', image: 'x', mode: 'global' })).replicas).toBe(0)
  })

  test('a health check needs exactly one of command and http', () => {
    const both = { command: ['true'], http: { path: '/', port: 80 } }
    expect(problems(normaliseWorkload({ name: 'a', image: 'x', health: both }))).toStrictEqual([
      'spec.health: has both command and http: choose one',
    ])
    expect(
      problems(normaliseWorkload({ name: 'a', image: 'x', health: { http: { path: 'x', port: 80 } } }))[0],
    ).toMatch(/^spec\.health\.http\.path: /)
  })

  test('a partition policy is read in ms, fields left out stay out; takeover with stop is refused', () => {
    expect(
      only(normaliseWorkload({ name: 'a', image: 'x', partition: { minority: 'takeover', after: '10s' } }))
        .partition,
    ).toStrictEqual({ minority: 'takeover', afterMs: 10_000 })
    expect(
      only(normaliseWorkload({ name: 'a', image: 'x', partition: { isolated: 'stop', stopAfter: '1m' } }))
        .partition,
    ).toStrictEqual({ isolated: 'stop', stopAfterMs: 60_000 })
    expect(only(normaliseWorkload({ name: 'a', image: 'x' })).partition).toBeUndefined()
    expect(
      problems(
        normaliseWorkload({ name: 'a', image: 'x', partition: { minority: 'takeover', isolated: 'stop' } }),
      ),
    ).toStrictEqual([
      'spec.partition: minority: takeover and isolated: stop contradict each other (a cut-off node would take slots over and stop them): choose one',
    ])
    expect(
      problems(
        normaliseWorkload({ name: 'a', image: 'x', partition: { minority: 'some', stopafter: '5s' } }),
      ),
    ).toStrictEqual([
      'spec.partition.minority: must be one of keep, takeover, not "some"',
      'spec.partition.stopafter: unknown field (did you mean stopAfter?)',
    ])
    const sent = {
      ...only(normaliseWorkload({ name: 'a', image: 'x' })),
      partition: { minority: 'takeover', isolated: 'stop' },
    }
    expect(WorkloadSchema.safeParse(sent).success).toBe(false)
  })

  test('a file over the size limit is refused, naming the limit', () => {
    const text = `name: web\nimage: nginx\nlabels: { a: "${'x'.repeat(2 * MI)}" }\n`
    const found = problems(parseWorkloadFile(text))
    expect(found).toHaveLength(1)
    expect(found[0]).toContain(String(MAX_SPEC_FILE_BYTES))
  })

  test('a YAML syntax error is a problem with its line number', () => {
    const found = problems(
      parseWorkloadFile('name: web\nimage: nginx\nports: [\n  { container: 80 }\nlabels: {}\n'),
    )
    expect(found.length).toBeGreaterThan(0)
    expect(found[0]).toMatch(/line \d+/)
    // Lines count from the start of the file, across documents.
    expect(problems(parseWorkloadFile('name: a\nimage: x\n---\nname: b\nimage: x\nimage: y\n'))[0]).toContain(
      'line 6',
    )
  })

  test('an empty file, a scalar and a list of scalars are problems', () => {
    expect(problems(parseWorkloadFile(''))).toStrictEqual(['the file holds no workload spec'])
    expect(problems(parseWorkloadFile('web.yaml'))).toStrictEqual(['spec: expected a map, got "web.yaml"'])
    expect(problems(parseWorkloadFile('[1, 2]'))).toStrictEqual([
      'spec[0]: expected a map, got 1',
      'spec[1]: expected a map, got 2',
    ])
  })

  test('a __proto__ key is refused, not silently dropped', () => {
    const found = problems(parseWorkloadFile('name: a\nimage: x\nenv: { __proto__: x }\n'))
    expect(found).toStrictEqual(['spec.env.__proto__: is a reserved name'])
  })

  test('an alias bomb is refused', () => {
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${'*a, '.repeat(9)}*a]\nc: &c [${'*b, '.repeat(9)}*b]\nd: [${'*c, '.repeat(199)}*c]\n`
    expect(problems(parseWorkloadFile(bomb))[0]).toMatch(/^YAML: /)
  })

  test('never throws, on any text or any value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const result = parseWorkloadFile(text)
        expect(typeof result.ok).toBe('boolean')
      }),
    )
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const result = normaliseWorkload(value)
        if (!result.ok) for (const problem of result.problems) expect(problem).toMatch(/^spec/)
      }),
    )
  })
})

// ---- properties ----

describe('normalised workloads', () => {
  test('pass WorkloadSchema and survive a JSON round trip unchanged', () => {
    fc.assert(
      fc.property(inputSpec, (spec) => {
        const workload = only(normaliseWorkload(spec))
        expect(WorkloadSchema.parse(workload)).toStrictEqual(workload)
        const copy = JSON.parse(JSON.stringify(workload)) as unknown
        expect(WorkloadSchema.parse(copy)).toStrictEqual(workload)
      }),
    )
  })

  test('read the same from YAML, JSON and the parsed value', () => {
    fc.assert(
      fc.property(inputSpec, (spec) => {
        const workload = only(normaliseWorkload(spec))
        expect(only(parseWorkloadFile(JSON.stringify(spec)))).toStrictEqual(workload)
        expect(only(parseWorkloadFile(stringify(spec)))).toStrictEqual(workload)
        const other = { ...spec, name: spec.name === 'other' ? 'another' : 'other' }
        const both = workloads(parseWorkloadFile(`${stringify(spec)}---\n${stringify(other)}`))
        expect(both).toStrictEqual([workload, { ...workload, name: other.name }])
      }),
      { numRuns: 50 },
    )
  })

  test('WorkloadSchema refuses broken invariants and unknown fields', () => {
    const base = only(normaliseWorkload({ name: 'a', image: 'x' }))
    expect(WorkloadSchema.safeParse(base).success).toBe(true)
    expect(WorkloadSchema.safeParse({ ...base, mode: 'global', replicas: 2 }).success).toBe(false)
    expect(WorkloadSchema.safeParse({ ...base, extra: 1 }).success).toBe(false)
    expect(WorkloadSchema.safeParse({ ...base, name: 'A' }).success).toBe(false)
    const health = {
      command: ['true'],
      http: { path: '/', port: 1 },
      intervalMs: 1,
      timeoutMs: 1,
      retries: 1,
    }
    expect(WorkloadSchema.safeParse({ ...base, health }).success).toBe(false)
    const ports = [
      { containerPort: 80, protocol: 'tcp' },
      { containerPort: 80, protocol: 'tcp' },
    ]
    expect(WorkloadSchema.safeParse({ ...base, ports }).success).toBe(false)
  })
})

describe('generationOf', () => {
  test('is 12 hex digits, and key order in the input does not change it', () => {
    fc.assert(
      fc.property(inputSpec, fc.infiniteStream(fc.nat()), (spec, order) => {
        const generation = generationOf(only(normaliseWorkload(spec)))
        expect(generation).toMatch(/^[0-9a-f]{12}$/)
        const reordered = reorderKeys(spec, order)
        expect(generationOf(only(normaliseWorkload(reordered)))).toBe(generation)
        expect(generationOf(only(parseWorkloadFile(JSON.stringify(reordered))))).toBe(generation)
      }),
    )
  })

  test('ignores replicas, labels, update, constraints, partition and name: scaling is not a rollout', () => {
    fc.assert(
      fc.property(inputSpec, fc.integer({ min: 0, max: 50 }), (spec, replicas) => {
        const generation = generationOf(only(normaliseWorkload(spec)))
        const changed = {
          ...spec,
          name: `${spec.name.slice(0, 60)}-x`,
          replicas,
          labels: { changed: 'yes' },
          update: { maxUnavailable: 7, monitor: '1s', failureAction: 'pause', order: 'start-first' },
          constraints: { zone: 'elsewhere' },
          partition: { isolated: 'stop' },
        }
        expect(generationOf(only(normaliseWorkload(changed)))).toBe(generation)
      }),
    )
  })

  test('changes with image, env, resources, command, args, ports, restart and health', () => {
    fc.assert(
      fc.property(inputSpec, (spec) => {
        const generation = generationOf(only(normaliseWorkload(spec)))
        const variants = [
          { ...spec, image: `${spec.image}x` },
          { ...spec, env: { ...spec.env, GARY_CHANGED: 'yes' } },
          { ...spec, resources: { ...spec.resources, cpu: '12345m' } },
          { ...spec, resources: { ...spec.resources, memory: 3 * MI + 1 } },
          { ...spec, command: [...(spec.command ?? []), 'changed'] },
          { ...spec, args: [...(spec.args ?? []), 'changed'] },
          { ...spec, ports: spec.ports?.length ? [] : [{ container: 1 }] },
          { ...spec, restart: { policy: 'never', maxRetries: 999 } },
          { ...spec, health: { command: ['changed'], retries: 77 } },
        ]
        for (const variant of variants) {
          expect(generationOf(only(normaliseWorkload(variant))), canonicalJson(variant)).not.toBe(generation)
        }
      }),
    )
  })
})

describe('canonicalJson', () => {
  test('sorts keys at every depth and leaves no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: undefined }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[1,{"z":0}]},"b":1}',
    )
  })

  test('is JSON that reads back to equal data, whatever the key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.infiniteStream(fc.nat()), (value, order) => {
        const text = canonicalJson(value)
        expect(JSON.parse(text)).toStrictEqual(JSON.parse(JSON.stringify(value)))
        expect(canonicalJson(reorderKeys(value, order))).toBe(text)
      }),
    )
  })
})

describe('published ports', () => {
  const spec = (ports: object[]) => ({ name: 'web', image: 'busybox', ports })

  test('published is served by the mesh (ingress, the default); mode host binds it on the slot’s node', () => {
    expect(only(normaliseWorkload(spec([{ container: 8080, published: 80 }]))).ports).toEqual([
      { containerPort: 8080, publishedPort: 80, protocol: 'tcp' },
    ])
    expect(
      only(normaliseWorkload(spec([{ container: 8080, published: 80, mode: 'ingress', host: 18080 }]))).ports,
    ).toEqual([{ containerPort: 8080, hostPort: 18080, publishedPort: 80, protocol: 'tcp' }])
    expect(
      only(normaliseWorkload(spec([{ container: 53, published: 53, mode: 'host', protocol: 'udp' }]))).ports,
    ).toEqual([{ containerPort: 53, hostPort: 53, protocol: 'udp' }])
  })

  test('published and host ports are checked against each other, and what the mesh cannot serve is refused', () => {
    expect(
      problems(
        normaliseWorkload(
          spec([
            { container: 1, published: 80 },
            { container: 2, host: 80 },
          ]),
        ),
      ),
    ).toEqual([
      'spec.ports[1]: host 80/tcp is also a published port (ports[0]): the mesh serves published ports on every node',
    ])
    expect(
      problems(
        normaliseWorkload(
          spec([
            { container: 1, published: 80 },
            { container: 2, published: 80 },
          ]),
        ),
      ),
    ).toEqual(['spec.ports[1]: published 80/tcp appears twice (also in ports[0])'])
    expect(
      problems(
        normaliseWorkload(
          spec([
            { container: 1, published: 80 },
            { container: 2, published: 80, mode: 'host' },
          ]),
        ),
      ),
    ).toEqual([
      'spec.ports[1]: host 80/tcp is also a published port (ports[0]): the mesh serves published ports on every node',
    ])
    expect(problems(normaliseWorkload(spec([{ container: 1, mode: 'ingress' }])))).toEqual([
      'spec.ports[0]: mode applies to a published port: add published (the port to serve)',
    ])
    expect(
      problems(normaliseWorkload(spec([{ container: 1, published: 80, host: 81, mode: 'host' }]))),
    ).toEqual([
      'spec.ports[0]: host 81 and published 80 differ: in mode host the published port is the host port (give one)',
    ])
    expect(problems(normaliseWorkload(spec([{ container: 1, published: 53, protocol: 'udp' }])))).toEqual([
      'spec.ports[0]: the routing mesh serves TCP only: publish a UDP port with mode: host',
    ])
    expect(problems(normaliseWorkload(spec([{ container: 1, published: 80, mode: 'both' }])))).toEqual([
      'spec.ports[0].mode: must be one of ingress, host, not "both"',
    ])
  })

  test('two workloads of a file, or a file and what is declared, may not take the same published port', () => {
    const file =
      'name: web\nimage: x\nports: [{container: 1, published: 80}]\n---\nname: api\nimage: x\nports: [{container: 2, host: 80}]\n'
    expect(problems(parseWorkloadFile(file))).toEqual([
      'spec[0].ports[0]: published 80/tcp is a host port by workload api too: published ports are served on every node',
      'spec[1].ports[0]: host 80/tcp is published by workload web too: published ports are served on every node',
    ])
    const declared = workloads(
      parseWorkloadFile('name: api\nimage: x\nports: [{container: 2, published: 80}]\n'),
    )
    const incoming = workloads(
      parseWorkloadFile('name: web\nimage: x\nports: [{container: 1, published: 80}]\n'),
    )
    expect(portConflicts(incoming, declared)).toEqual([
      'spec.ports[0]: published 80/tcp is published by workload api too: published ports are served on every node',
    ])
    // A workload replaced by its new version does not clash with its old one; host ports of two
    // workloads only meet on a node that runs both, where the engine refuses the second.
    expect(portConflicts(declared, declared)).toEqual([])
    const hosts = workloads(
      parseWorkloadFile(
        'name: a\nimage: x\nports: [{container: 1, host: 80}]\n---\nname: b\nimage: x\nports: [{container: 1, host: 80}]\n',
      ),
    )
    expect(hosts).toHaveLength(2)
  })

  test('the published port is no part of the generation: changing it moves no slot', () => {
    const a = only(normaliseWorkload(spec([{ container: 8080, published: 80 }])))
    const b = only(normaliseWorkload(spec([{ container: 8080, published: 81 }])))
    const c = only(normaliseWorkload(spec([{ container: 8080 }])))
    expect(generationOf(a)).toBe(generationOf(b))
    expect(generationOf(a)).toBe(generationOf(c))
    expect(WorkloadSchema.safeParse(a).success).toBe(true)
    expect(WorkloadSchema.safeParse({ ...a, ports: [{ ...a.ports[0], protocol: 'udp' }] }).success).toBe(
      false,
    )
  })
})
