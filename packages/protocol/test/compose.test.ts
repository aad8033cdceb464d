// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose's ${VAR} references are what these tests are about
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type ComposeNote,
  type ComposeOptions,
  convertCompose,
  interpolate,
  normaliseWorkload,
  parseEnvFile,
  parseWorkloadFile,
  readApplyFile,
  shellWords,
} from '../src/index.js'

const NO_ENV: ComposeOptions = { environment: {} }

function converted(file: unknown, options: ComposeOptions = NO_ENV) {
  const result = convertCompose(file, options)
  if (!result.ok) throw new Error(`expected a conversion, got: ${result.problems.join('; ')}`)
  return result
}

function problems(file: unknown, options: ComposeOptions = NO_ENV): string[] {
  const result = convertCompose(file, options)
  if (result.ok) throw new Error('expected problems, the file converted')
  return result.problems
}

const ignored = (notes: ComposeNote[]) =>
  notes.filter((note) => note.kind === 'ignored').map((note) => `${note.service ?? ''}:${note.key}`)

describe('convertCompose', () => {
  test('a service with every supported key becomes one Gary spec', () => {
    const { specs } = converted({
      services: {
        api: {
          image: 'registry.example/api:1.4',
          entrypoint: ['/bin/api'],
          command: 'serve --port "8080"',
          environment: { LOG: 'debug', WORKERS: 4, ENABLED: true },
          ports: ['8080:8080', { target: 9090, published: '19090', protocol: 'udp' }],
          healthcheck: {
            test: ['CMD', 'wget', '-q', 'http://localhost:8080/health'],
            interval: '15s',
            timeout: '2s',
            retries: 4,
          },
          labels: { team: 'core' },
          deploy: {
            replicas: 3,
            resources: { limits: { cpus: '0.5', memory: '256M' } },
            placement: { constraints: ['node.labels.zone == eu-1', 'node.labels.disk==ssd'] },
            update_config: { parallelism: 2 },
            restart_policy: { condition: 'on-failure', max_attempts: 7 },
          },
        },
      },
    })
    expect(specs).toEqual([
      {
        name: 'api',
        image: 'registry.example/api:1.4',
        command: ['/bin/api'],
        args: ['serve', '--port', '8080'],
        env: { LOG: 'debug', WORKERS: '4', ENABLED: 'true' },
        ports: [
          { container: 8080, host: 8080, protocol: 'tcp' },
          { container: 9090, host: 19090, protocol: 'udp' },
        ],
        replicas: 3,
        resources: { cpu: '500m', memory: '256Mi' },
        constraints: { zone: 'eu-1', disk: 'ssd' },
        update: { maxUnavailable: 2 },
        restart: { policy: 'on-failure', maxRetries: 7 },
        health: {
          command: ['wget', '-q', 'http://localhost:8080/health'],
          interval: '15s',
          timeout: '2s',
          retries: 4,
        },
        labels: { team: 'core' },
      },
    ])
    expect(normaliseWorkload(specs[0]).ok).toBe(true)
  })

  test('what Gary cannot carry over is listed per service, with a reason, as docker stack deploy does', () => {
    const { notes } = converted({
      version: '3.8',
      services: {
        web: {
          image: 'nginx',
          build: '.',
          depends_on: ['db'],
          networks: ['front'],
          volumes: ['data:/data'],
          'x-custom': 1,
          deploy: { resources: { reservations: { memory: '1G' } }, update_config: { delay: '10s' } },
          healthcheck: { test: 'true', start_period: '5s' },
        },
        db: { image: 'postgres:16', container_name: 'db' },
      },
      networks: { front: {} },
      volumes: { data: {} },
      'x-defaults': {},
    })
    expect(ignored(notes).sort()).toEqual(
      [
        ':networks',
        'db:container_name',
        'web:build',
        'web:depends_on',
        'web:deploy.resources.reservations',
        'web:deploy.update_config.delay',
        'web:healthcheck.start_period',
        'web:networks',
      ].sort(),
    )
    for (const note of notes) expect(note.reason).not.toBe('')
  })

  test("services' secrets name the top-level ones; a file or environment value is never read, and a note says how to create it", () => {
    const result = convertCompose(
      {
        services: {
          db: {
            image: 'postgres',
            secrets: ['db_pass', { source: 'tls', target: '/run/secrets/cert.pem', mode: 440, uid: '0' }],
          },
          api: { image: 'api', secrets: [{ source: 'token', mode: '0400' }] },
        },
        secrets: {
          db_pass: { file: './db_password.txt' },
          tls: { external: true },
          token: { environment: 'TOKEN', name: 'api-token' },
        },
      },
      { environment: {} },
    )
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.specs.map((spec) => spec.secrets)).toEqual([
      ['db_pass', { name: 'tls', target: 'cert.pem', mode: '0440' }],
      [{ name: 'api-token', target: 'token', mode: '0400' }],
    ])
    for (const spec of result.specs) expect(normaliseWorkload(spec).ok).toBe(true)
    const warnings = result.notes.filter((note) => note.kind === 'warning').map((note) => note.reason)
    expect(warnings).toEqual([
      expect.stringContaining('create it once with gary secret create db_pass -f ./db_password.txt'),
      expect.stringContaining('printf %s "$TOKEN" | gary secret create api-token -f -'),
    ])
    expect(ignored(result.notes)).toEqual(['db:secrets[1].uid'])
    const unknown = convertCompose(
      { services: { db: { image: 'x', secrets: ['nope'] } } },
      { environment: {} },
    )
    expect(unknown.ok ? [] : unknown.problems).toEqual([
      "services.db.secrets[0]: secret nope is not declared in the file's top-level secrets",
    ])
    const outside = convertCompose(
      { services: { db: { image: 'x', secrets: [{ source: 's', target: '/etc/x' }] } }, secrets: { s: {} } },
      { environment: {} },
    )
    expect(outside.ok).toBe(false)
  })

  test('volumes, short and long syntax, become named volumes and bind mounts; what cannot is noted or refused', () => {
    const { specs, notes } = converted({
      services: {
        db: {
          image: 'postgres:16',
          volumes: [
            'db-data:/var/lib/postgresql/data',
            '/srv/conf/:/etc/conf:ro',
            '/cache',
            { type: 'volume', source: 'logs', target: '/logs', read_only: true, volume: { nocopy: true } },
            { type: 'bind', source: '/srv/x/../y', target: '/y' },
            { type: 'tmpfs', target: '/tmp' },
            'other:/other:z',
          ],
        },
      },
      volumes: { 'db-data': null, logs: { driver: 'local' } },
    })
    expect(specs[0]?.volumes).toEqual([
      { name: 'db-data', target: '/var/lib/postgresql/data' },
      { source: '/srv/conf', target: '/etc/conf', readOnly: true },
      { name: 'logs', target: '/logs', readOnly: true },
      { source: '/srv/y', target: '/y' },
      { name: 'other', target: '/other' },
    ])
    expect(ignored(notes)).toEqual([
      ':volumes.logs.driver',
      'db:volumes[2]',
      'db:volumes[3].volume',
      'db:volumes[5]',
      'db:volumes[6]',
    ])
    expect(parseWorkloadFile(JSON.stringify(specs))).toMatchObject({ ok: true })
    expect(problems({ services: { a: { image: 'x', volumes: ['./data:/data'] } } })).toEqual([
      `services.a.volumes[0]: host path "./data" is not absolute: Gary's nodes know no project directory (write the full path)`,
    ])
    expect(problems({ services: { a: { image: 'x', volumes: ['d:/data', 'e:/data/'] } } })).toEqual([
      'services.a.volumes[1]: target /data is mounted twice',
    ])
  })

  test('global mode, restart without deploy, mem_limit, cpus and scale', () => {
    const { specs, notes } = converted({
      services: {
        agent: { image: 'agent', deploy: { mode: 'global', replicas: 2 } },
        worker: { image: 'worker', restart: 'on-failure:3', mem_limit: '1g', cpus: 1.5, scale: 4 },
        cron: { image: 'cron', restart: 'unless-stopped' },
      },
    })
    expect(specs).toEqual([
      { name: 'agent', image: 'agent', mode: 'global' },
      {
        name: 'worker',
        image: 'worker',
        replicas: 4,
        resources: { cpu: '1500m', memory: '1Gi' },
        restart: { policy: 'on-failure', maxRetries: 3 },
      },
      { name: 'cron', image: 'cron', restart: { policy: 'always' } },
    ])
    expect(ignored(notes)).toEqual(['agent:deploy.replicas'])
  })

  test('update_config: parallelism, monitor, failure_action and order; continue is not supported', () => {
    const { specs, notes } = converted({
      services: {
        web: {
          image: 'web',
          deploy: {
            update_config: { parallelism: 2, monitor: '10s', failure_action: 'pause', order: 'start-first' },
          },
        },
        api: { image: 'api', deploy: { update_config: { failure_action: 'continue' } } },
      },
    })
    expect(specs).toEqual([
      {
        name: 'web',
        image: 'web',
        update: { maxUnavailable: 2, monitor: '10s', failureAction: 'pause', order: 'start-first' },
      },
      { name: 'api', image: 'api' },
    ])
    expect(ignored(notes)).toEqual(['api:deploy.update_config.failure_action'])
  })

  test('variables are interpolated, environment entries without a value inherit, env files are read', () => {
    const files: Record<string, string> = {
      'web.env': '# settings\nexport MODE=prod\nQUOTED="a b"\nLOG=info # inline comment\n',
    }
    const { specs, notes } = converted(
      {
        services: {
          web: {
            image: 'nginx:${TAG:-latest}',
            env_file: ['web.env'],
            environment: ['LOG=warn', 'HOME_DIR', 'PRICE=$$5', 'MISSING=${NOT_SET}'],
          },
        },
      },
      { environment: { HOME_DIR: '/home/me' }, readEnvFile: (path) => files[path] },
    )
    expect(specs[0]).toMatchObject({
      image: 'nginx:latest',
      env: { MODE: 'prod', QUOTED: 'a b', LOG: 'warn', HOME_DIR: '/home/me', PRICE: '$5', MISSING: '' },
    })
    expect(notes).toContainEqual({
      kind: 'warning',
      key: 'NOT_SET',
      reason: 'variable NOT_SET is not set: an empty string is used',
    })
  })

  test('a service Gary cannot run refuses the whole file, each problem at its path', () => {
    expect(
      problems({
        services: {
          app: { build: '.' },
          job: { image: 'x', deploy: { mode: 'replicated-job' } },
          bad: {
            image: 'x',
            ports: ['80:80:80:80'],
            env_file: 'missing.env',
            healthcheck: { test: ['BOGUS'] },
          },
          need: { image: '${REQUIRED:?set it}' },
        },
      }),
    ).toEqual([
      'services.need.image: REQUIRED is required: set it',
      'services.app.image: is required (build is not supported: build and push the image, then name it here)',
      'services.job.deploy.mode: "replicated-job" is not supported (replicated or global; jobs are not)',
      'services.bad.env_file: missing.env cannot be read',
      'services.bad.ports[0]: "80:80:80:80" is not [HOST_IP:][HOST:]CONTAINER[/PROTOCOL]',
      'services.bad.healthcheck.test: must be a string, ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]',
      'services.need.image: is required',
    ])
  })

  test('a service name that is not a DNS label is renamed, and said so', () => {
    const { specs, notes } = converted({ services: { My_App: { image: 'x' } } })
    expect(specs[0]!.name).toBe('my-app')
    expect(notes).toContainEqual({
      kind: 'warning',
      key: 'name',
      service: 'My_App',
      reason: 'named my-app: Gary names are lowercase DNS labels',
    })
  })

  test('port forms: ranges, a container port alone, host addresses, long syntax', () => {
    const { specs, notes } = converted({
      services: { s: { image: 'x', ports: ['3000', '127.0.0.1:8001:8001', '9000-9001:80-81/udp', 53] } },
    })
    expect(specs[0]!.ports).toEqual([
      { container: 3000, protocol: 'tcp' },
      { container: 8001, host: 8001, protocol: 'tcp' },
      { container: 80, host: 9000, protocol: 'udp' },
      { container: 81, host: 9001, protocol: 'udp' },
      { container: 53, protocol: 'tcp' },
    ])
    expect(ignored(notes)).toEqual(['s:ports[1]'])
  })

  test('property: every service of any Compose-shaped file yields a spec the daemon accepts, or a problem; never a throw', () => {
    const duration = fc.constantFrom('10s', '1m30s', '500ms', '2h', 'soon', 5)
    const service = fc.record(
      {
        image: fc.oneof(fc.constantFrom('nginx', 'redis:7', ''), fc.integer()),
        command: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 })),
        environment: fc.oneof(
          fc.dictionary(
            fc.constantFrom('A', 'B_2', 'bad key'),
            fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
          ),
          fc.array(fc.constantFrom('A=1', 'B', '=x', 'C=${D:-e}')),
        ),
        ports: fc.array(
          fc.oneof(
            fc.constantFrom('80', '8080:80', '1-3:1-3/udp', 'x', '0:0'),
            fc.integer({ min: -1, max: 70000 }),
          ),
        ),
        deploy: fc.record(
          {
            replicas: fc.oneof(fc.nat(20), fc.constant(-1), fc.constant('3')),
            mode: fc.constantFrom('replicated', 'global', 'global-job'),
            resources: fc.record({
              limits: fc.record(
                {
                  cpus: fc.constantFrom('0.25', '2', 'lots', 0),
                  memory: fc.constantFrom('64m', '1g', '2k', 'huge'),
                },
                { requiredKeys: [] },
              ),
            }),
            placement: fc.record({
              constraints: fc.array(
                fc.constantFrom('node.labels.zone == a', 'node.role == manager', 'node.labels.x != y'),
              ),
            }),
            restart_policy: fc.record(
              {
                condition: fc.constantFrom('any', 'none', 'on-failure', 'sometimes'),
                max_attempts: fc.oneof(fc.nat(9), fc.constant(-2)),
              },
              { requiredKeys: [] },
            ),
          },
          { requiredKeys: [] },
        ),
        healthcheck: fc.record(
          {
            test: fc.oneof(fc.string(), fc.constant(['CMD', 'true']), fc.constant(['NONE'])),
            interval: duration,
            retries: fc.integer({ min: -1, max: 5 }),
          },
          { requiredKeys: [] },
        ),
        volumes: fc.array(fc.string(), { maxLength: 2 }),
      },
      { requiredKeys: ['image'] },
    )
    const file = fc.record({
      services: fc.dictionary(fc.constantFrom('web', 'db', 'Cache_1', 'a.b'), service, { minKeys: 1 }),
    })
    fc.assert(
      fc.property(file, (compose) => {
        const result = convertCompose(compose, { environment: { D: 'x' } })
        if (!result.ok) {
          expect(result.problems.length).toBeGreaterThan(0)
          return
        }
        expect(result.specs).toHaveLength(Object.keys(compose.services).length)
        for (const spec of result.specs) {
          const checked = normaliseWorkload(spec)
          // The converter's output is the daemon's input: a spec it made must not be refused for its shape.
          if (!checked.ok) expect(checked.problems.join('; ')).not.toMatch(/unknown field|expected/)
        }
      }),
      { numRuns: 300 },
    )
  })

  test('property: conversion is deterministic and does not change its input', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom('a', 'b', 'c'),
          fc.record({
            image: fc.constantFrom('x', '${V}'),
            environment: fc.array(fc.constantFrom('A=1', 'V')),
          }),
          { minKeys: 1 },
        ),
        (services) => {
          const file = { services }
          const before = JSON.stringify(file)
          const one = convertCompose(file, { environment: { V: 'v' } })
          const two = convertCompose(structuredClone(file), { environment: { V: 'v' } })
          expect(one).toEqual(two)
          expect(JSON.stringify(file)).toBe(before)
        },
      ),
    )
  })
})

describe('readApplyFile', () => {
  test('a Compose file is converted; a Gary spec file is taken as it is', () => {
    const compose = readApplyFile('services:\n  web:\n    image: nginx\n    build: .\n', NO_ENV)
    expect(compose).toMatchObject({ ok: true, kind: 'compose', specs: [{ name: 'web', image: 'nginx' }] })
    const gary = readApplyFile('name: web\nimage: nginx\nreplicas: 2\n---\nname: db\nimage: pg\n', NO_ENV)
    expect(gary).toEqual({
      ok: true,
      kind: 'gary',
      specs: [
        { name: 'web', image: 'nginx', replicas: 2 },
        { name: 'db', image: 'pg' },
      ],
      notes: [],
    })
  })

  test('merge keys and anchors of Compose files are understood', () => {
    const text = `x-base: &base
  image: busybox
  environment: { A: "1" }
services:
  one:
    <<: *base
  two:
    <<: *base
    environment: { A: "2" }
`
    const result = readApplyFile(text, NO_ENV)
    expect(result).toMatchObject({
      ok: true,
      specs: [
        { name: 'one', image: 'busybox', env: { A: '1' } },
        { name: 'two', image: 'busybox', env: { A: '2' } },
      ],
    })
  })

  test('a converted spec the daemon would refuse is a problem at its service', () => {
    const result = readApplyFile(
      'services:\n  web:\n    image: nginx\n    deploy: { replicas: 100000 }\n',
      NO_ENV,
    )
    expect(result).toEqual({ ok: false, problems: ['services.web.replicas: must be at most 10000'] })
  })
})

describe('the pieces', () => {
  test('shellWords splits as a shell would, without expanding', () => {
    expect(shellWords(`sh -c 'echo "$HOME" && exit 1' "a \\"b\\"" c\\ d`)).toEqual([
      'sh',
      '-c',
      'echo "$HOME" && exit 1',
      'a "b"',
      'c d',
    ])
    expect(shellWords('unclosed "quote')).toBeUndefined()
  })

  test('property: words without quotes or backslashes split on whitespace', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9=./:-]{1,8}$/), { maxLength: 6 }), (words) => {
        expect(shellWords(words.join('  \t'))).toEqual(words)
      }),
    )
  })

  test('parseEnvFile reads KEY=VALUE lines and says which are not', () => {
    expect(parseEnvFile('A=1\n\n# c\nexport B=\'x # y\'\nC\nbad line\nD="q\\nr"\n')).toEqual({
      env: { A: '1', B: 'x # y', D: 'q\nr' },
      problems: ['line 6: "bad line" is not KEY=VALUE'],
    })
  })

  test('interpolate follows Compose: defaults, required, alternatives, $$', () => {
    const env = { SET: 'v', EMPTY: '' }
    const one = (text: string) => interpolate(text, env).value
    expect(one('${SET}-$SET-${UNSET:-d}-${EMPTY:-d}-${EMPTY-d}-${SET:+alt}-${UNSET+alt}-$$SET')).toBe(
      'v-v-d-d--alt--$SET',
    )
    expect(interpolate('${UNSET?needed}', env).errors).toEqual([': UNSET is required: needed'])
    expect(interpolate({ a: ['$UNSET'] }, env).unset).toEqual(['UNSET'])
  })
})
