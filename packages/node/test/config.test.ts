import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  DEFAULTS,
  resolveConfig,
  type Settings,
  settingsFromEnv,
  settingsFromFile,
} from '../src/config/config.js'
import { parseCpuMillis, parseMemoryBytes } from '../src/config/units.js'

/** Runs `fn`, expecting a ConfigError; returns its message for the fragments a user reads. */
function configError(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect((err as Error).name).toBe('ConfigError')
    return (err as Error).message
  }
  throw new Error('expected a ConfigError, got none')
}

async function configErrorAsync(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    expect((err as Error).name).toBe('ConfigError')
    return (err as Error).message
  }
  throw new Error('expected a ConfigError, got none')
}

const flags = (settings: Settings) => ({ source: 'flags', settings })

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gary-config-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function configFile(name: string, text: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, text)
  return path
}

describe('parseCpuMillis', () => {
  test.each([
    ['2', 2000],
    ['250m', 250],
    ['0.5', 500],
    ['1500m', 1500],
    [' 3 ', 3000],
  ])('%j is %i millicores', (text, millis) => {
    expect(parseCpuMillis(text)).toBe(millis)
  })

  test.each(['lots', '', '-1', '2 cores', '1.5.0', '250M'])('refuses %j, quoting it', (text) => {
    expect(configError(() => parseCpuMillis(text))).toContain(`cpu: "${text}" is not a CPU amount`)
  })

  test('names the setting it parses', () => {
    expect(configError(() => parseCpuMillis('x', 'limits.cpu'))).toMatch(/^limits\.cpu: "x"/)
  })
})

describe('parseMemoryBytes', () => {
  test.each([
    ['64Mi', 64 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['500M', 500_000_000],
    ['1048576', 1_048_576],
    ['1.5Mi', 1536 * 2 ** 10],
    ['2T', 2e12],
    ['64 MiB', 64 * 2 ** 20],
  ])('%j is %i bytes', (text, bytes) => {
    expect(parseMemoryBytes(text)).toBe(bytes)
  })

  test.each(['64Q', 'Mi', '', 'lots', '64 QiB', '-1Gi'])('refuses %j, quoting it', (text) => {
    expect(configError(() => parseMemoryBytes(text))).toContain(`memory: "${text}" is not a size`)
  })
})

describe('resolveConfig', () => {
  test('without settings gives the documented defaults', () => {
    const config = resolveConfig([])
    expect(config).toEqual(DEFAULTS)
    expect(config.listen).toEqual(['/ip4/0.0.0.0/tcp/4279'])
    expect(config.api).toBe('127.0.0.1:7947')
    expect(config.cluster).toBe('default')
    expect(config.runtime).toBe('docker')
    expect([config.heartbeatMs, config.suspectAfterMs, config.deadAfterMs]).toEqual([1000, 2000, 3000])
    expect(config.cpuMillis).toBeUndefined()
    expect(config.memoryBytes).toBeUndefined()
    expect(config.apiToken).toBeUndefined()
  })

  test('does not share the default labels between configs', () => {
    resolveConfig([flags({ labels: ['zone=a'] })])
    expect(resolveConfig([]).labels).toEqual({})
    expect(DEFAULTS.labels).toEqual({})
  })

  test('file < environment < flags, each overriding only what it says', async () => {
    const file = await configFile(
      'layers.yaml',
      [
        'cluster: from-file',
        'cpu: 1',
        'memory: 1Gi',
        'heartbeatMs: 100',
        'suspectAfterMs: 400',
        'deadAfterMs: 900',
        'labels: { zone: a, disk: hdd }',
        'runtime: fake',
      ].join('\n'),
    )
    const env = settingsFromEnv({
      GARY_CLUSTER: 'from-env',
      GARY_CPU: '2',
      GARY_LABELS: 'disk=ssd',
      GARY_SUSPECT_AFTER_MS: '500',
      GARY_UNRELATED: 'x',
      GARY_MEMORY: '',
    })
    const config = resolveConfig([
      { source: `config file ${file}`, settings: await settingsFromFile(file) },
      { source: 'environment', settings: env },
      flags({ cpu: '250m', listen: ['/ip4/127.0.0.1/tcp/0'] }),
    ])
    expect(config.cluster).toBe('from-env')
    expect(config.cpuMillis).toBe(250)
    // An empty environment variable says nothing, so the file's value stands.
    expect(config.memoryBytes).toBe(2 ** 30)
    expect(config.labels).toEqual({ zone: 'a', disk: 'ssd' })
    expect([config.heartbeatMs, config.suspectAfterMs, config.deadAfterMs]).toEqual([100, 500, 900])
    expect(config.runtime).toBe('fake')
    expect(config.listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
  })

  test('environment values are strings, coerced where numbers are meant', () => {
    const config = resolveConfig([
      {
        source: 'environment',
        settings: settingsFromEnv({
          GARY_TARGET_PEERS: '7',
          GARY_JOIN: '/ip4/10.0.0.1/tcp/7946, /ip4/10.0.0.2/tcp/7946',
          GARY_API: '127.0.0.1:9000',
        }),
      },
    ])
    expect(config.targetPeers).toBe(7)
    expect(config.join).toEqual(['/ip4/10.0.0.1/tcp/7946', '/ip4/10.0.0.2/tcp/7946'])
    expect(config.api).toBe('127.0.0.1:9000')
  })

  test.each<[string, Settings['labels']]>([
    ['a list', ['zone=eu-1', 'gpu=true', 'expr=a=b']],
    ['a comma string', 'zone=eu-1, gpu=true,expr=a=b'],
    ['a map', { zone: 'eu-1', gpu: 'true', expr: 'a=b' }],
  ])('labels from %s', (_, labels) => {
    expect(resolveConfig([flags({ labels })]).labels).toEqual({ zone: 'eu-1', gpu: 'true', expr: 'a=b' })
  })

  test('labels from a YAML map coerce values to strings', async () => {
    const file = await configFile('labels.yaml', 'labels:\n  gpu: true\n  rack: 7\n')
    const config = resolveConfig([{ source: 'file', settings: await settingsFromFile(file) }])
    expect(config.labels).toEqual({ gpu: 'true', rack: '7' })
  })

  test('a label without = is refused', () => {
    expect(configError(() => resolveConfig([flags({ labels: ['zone'] })]))).toContain(
      'flags: label "zone" is not key=value',
    )
  })

  test('lists every problem at once, each with its source', async () => {
    const file = await configFile('unknown.yaml', 'cluster: fine\nclsuter: typo\n')
    const fileSettings = await settingsFromFile(file)
    const message = configError(() =>
      resolveConfig([
        { source: `config file ${file}`, settings: fileSettings },
        { source: 'environment', settings: settingsFromEnv({ GARY_CLUSTER: 'Not_A_Label' }) },
        flags({ join: ['not-a-multiaddr'] }),
      ]),
    )
    expect(message).toMatch(/^invalid configuration:/)
    expect(message).toContain(`config file ${file}: Unrecognized key: "clsuter"`)
    expect(message).toContain('environment: cluster: must be a DNS label')
    expect(message).toContain('flags: join: "not-a-multiaddr" is not a multiaddr')
  })

  test('one bad setting does not hide the others of the same source', () => {
    const message = configError(() =>
      resolveConfig([
        flags({
          cluster: 'Bad_',
          cpu: 'lots',
          memory: '64Q',
          join: ['nope'],
          listen: ['/ip4/127.0.0.1/tcp/0'],
        }),
      ]),
    )
    expect(message).toContain('flags: cluster: must be a DNS label')
    expect(message).toContain('flags: cpu: "lots"')
    expect(message).toContain('flags: memory: "64Q"')
    expect(message).toContain('flags: join: "nope"')
    expect(message.split('\n')).toHaveLength(5)
  })

  test('the API beyond loopback needs a token', () => {
    for (const api of ['0.0.0.0:7947', '10.0.0.5:7947', '[::]:7947']) {
      expect(configError(() => resolveConfig([flags({ api })]))).toContain(
        `api: binding ${api} beyond loopback needs an API token`,
      )
    }
    const withToken = resolveConfig([flags({ api: '0.0.0.0:7947', apiToken: 'a-long-enough-token-123' })])
    expect(withToken.apiToken).toBe('a-long-enough-token-123')
    for (const api of ['127.0.0.1:7947', 'localhost:1', '[::1]:7947']) {
      expect(resolveConfig([flags({ api })]).api).toBe(api)
    }
  })

  test('a short API token is refused', () => {
    expect(configError(() => resolveConfig([flags({ api: '0.0.0.0:7947', apiToken: 'short' })]))).toContain(
      'apiToken: must be at least 16 characters',
    )
  })

  test('an API address that is not host:port is refused', () => {
    expect(configError(() => resolveConfig([flags({ api: '7947' })]))).toContain(
      'api: "7947" is not host:port',
    )
    expect(configError(() => resolveConfig([flags({ api: 'localhost:99999' })]))).toContain(
      'is not host:port',
    )
  })

  test.each([
    [1000, 1000, 3000],
    [1000, 2000, 2000],
    [1000, 3000, 2000],
    [5000, 2000, 3000],
  ])('heartbeat %i < suspect %i < dead %i is enforced', (heartbeatMs, suspectAfterMs, deadAfterMs) => {
    expect(configError(() => resolveConfig([flags({ heartbeatMs, suspectAfterMs, deadAfterMs })]))).toContain(
      `timing: heartbeat (${heartbeatMs} ms) < suspect-after (${suspectAfterMs} ms) < dead-after (${deadAfterMs} ms) must hold`,
    )
  })

  test('promise shards default to 1, and come from a file, the environment or flags', async () => {
    expect(resolveConfig([]).promiseShards).toBe(1)
    const file = await configFile('shards.yaml', 'promiseShards: 16\n')
    expect(resolveConfig([{ source: 'file', settings: await settingsFromFile(file) }]).promiseShards).toBe(16)
    const env = settingsFromEnv({ GARY_PROMISE_SHARDS: '64' })
    expect(resolveConfig([{ source: 'environment', settings: env }]).promiseShards).toBe(64)
    expect(resolveConfig([flags({ promiseShards: '4096' })]).promiseShards).toBe(4096)
  })

  test.each(['0', '4097', '2.5', 'many', '-4'])(
    'promise shards %j are refused, saying what is wanted',
    (bad) => {
      expect(configError(() => resolveConfig([flags({ promiseShards: bad })]))).toContain(
        'flags: promiseShards: must be a whole number from 1 to 4096, the same on every node',
      )
    },
  )

  test('the ordering holds across sources', () => {
    // The file sets a fast heartbeat; raising only the heartbeat from flags breaks the order.
    expect(
      configError(() =>
        resolveConfig([
          { source: 'file', settings: { heartbeatMs: 100, suspectAfterMs: 300, deadAfterMs: 500 } },
          flags({ heartbeatMs: 400 }),
        ]),
      ),
    ).toContain('timing: heartbeat (400 ms)')
  })
})

describe('settingsFromFile', () => {
  test('reads YAML and JSON', async () => {
    const yaml = await configFile('ok.yaml', 'cluster: prod\nlisten:\n  - /ip4/0.0.0.0/tcp/7000\n')
    const json = await configFile('ok.json', JSON.stringify({ cluster: 'prod', cpu: '1500m' }))
    expect(await settingsFromFile(yaml)).toEqual({ cluster: 'prod', listen: ['/ip4/0.0.0.0/tcp/7000'] })
    expect(resolveConfig([{ source: 'file', settings: await settingsFromFile(json) }]).cpuMillis).toBe(1500)
  })

  test('an empty file says nothing', async () => {
    expect(await settingsFromFile(await configFile('empty.yaml', ''))).toEqual({})
  })

  test('an unknown key in the file is refused by name', async () => {
    const file = await configFile('typo.yaml', 'heartbeat: 500\n')
    const settings = await settingsFromFile(file)
    const message = configError(() => resolveConfig([{ source: `config file ${file}`, settings }]))
    expect(message).toContain(`config file ${file}: Unrecognized key: "heartbeat"`)
  })

  test('a missing file is a clear ConfigError naming it', async () => {
    const path = join(dir, 'missing.yaml')
    expect(await configErrorAsync(settingsFromFile(path))).toContain(`cannot read config file ${path}`)
  })

  test('a directory is a clear ConfigError', async () => {
    expect(await configErrorAsync(settingsFromFile(dir))).toContain(`cannot read config file ${dir}`)
  })

  test('invalid YAML is a clear ConfigError naming the file', async () => {
    const file = await configFile('broken.yaml', 'cluster: [unclosed\n  listen: :\n')
    expect(await configErrorAsync(settingsFromFile(file))).toContain(`config file ${file} is not valid YAML`)
  })

  test.each([
    ['a list', '- cluster: prod\n'],
    ['a scalar', 'just words\n'],
  ])('a file holding %s instead of a map is refused', async (_, text) => {
    const file = await configFile('not-a-map.yaml', text)
    expect(await configErrorAsync(settingsFromFile(file))).toContain(
      `config file ${file} must hold a map of settings`,
    )
  })
})
