import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { NodeView } from '../src/daemon.js'
import { readClusterKey } from '../src/net/cluster-key.js'
import { DaemonProcess, GARY_BIN, runCli, waitFor, withoutGarySettings } from '../src/testing/index.js'

const TOKEN = 'a-long-enough-token-123'
/** A stack trace line, which a user should never see for a mistake they can fix. */
const STACK = /^\s+at /m

interface Failure {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI expecting it to fail; returns what the user saw. */
async function failing(args: string[], env: Record<string, string> = {}): Promise<Failure> {
  try {
    const stdout = await runCli(args, env)
    throw new Error(`expected \`gary ${args.join(' ')}\` to fail, it printed: ${stdout}`)
  } catch (err) {
    const { code, stdout, stderr } = err as { code?: unknown; stdout?: string; stderr?: string }
    if (typeof code !== 'number') throw err
    return { code, stdout: stdout ?? '', stderr: stderr ?? '' }
  }
}

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

const dirs: string[] = []
const daemons: DaemonProcess[] = []
const children: ChildProcess[] = []

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gary-cli-'))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await Promise.all(daemons.map((daemon) => daemon.kill('SIGTERM')))
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

describe('gary without a daemon', () => {
  test('a client command against a closed port says no daemon answers, without a stack', async () => {
    const port = await closedPort()
    const { code, stdout, stderr } = await failing(['nodes', '--api', `127.0.0.1:${port}`])
    expect(code).not.toBe(0)
    expect(stdout).toBe('')
    expect(stderr).toContain(`no Gary daemon answers at 127.0.0.1:${port} (ECONNREFUSED)`)
    expect(stderr).toContain('gary daemon')
    expect(stderr).not.toMatch(STACK)
  })

  test('GARY_API points client commands at a daemon', async () => {
    const port = await closedPort()
    const { stderr } = await failing(['id'], { GARY_API: `127.0.0.1:${port}` })
    expect(stderr).toContain(`no Gary daemon answers at 127.0.0.1:${port}`)
  })

  test('an unknown option gets commander’s message and a hint', async () => {
    const { code, stderr } = await failing(['daemon', '--bogus'])
    expect(code).not.toBe(0)
    expect(stderr).toContain("error: unknown option '--bogus'")
    expect(stderr).toContain('--help')
    expect(stderr).not.toMatch(STACK)
  })

  test.each([
    [
      '--cpu',
      'lots',
      'cpu: "lots" is not a CPU amount (use cores, like 0.5 or "2", or millicores, like "250m")',
    ],
    ['--promise-shards', '0', 'promiseShards: must be a whole number from 1 to 4096, the same on every node'],
  ])(
    'a bad %s is one invalid-configuration message naming it, without a stack',
    async (flag, value, problem) => {
      const dataDir = await tempDir()
      const { code, stderr } = await failing([
        'daemon',
        '--runtime',
        'fake',
        '--data-dir',
        dataDir,
        flag,
        value,
      ])
      expect(code).not.toBe(0)
      expect(stderr.trimEnd().split('\n')).toEqual(['gary: invalid configuration:', `  flags: ${problem}`])
      expect(stderr).not.toMatch(STACK)
    },
  )

  test('a bad config file is named in the message', async () => {
    const dir = await tempDir()
    const file = join(dir, 'gary.yaml')
    await writeFile(file, 'cluster: prod\nheartbaet: 500\n')
    const { stderr } = await failing(['daemon', '--config', file, '--data-dir', dir], { GARY_CONFIG: '' })
    expect(stderr).toContain(`config file ${file}: Unrecognized key: "heartbaet"`)
    expect(stderr).not.toMatch(STACK)
  })

  test('the API beyond loopback without a token is refused before anything starts', async () => {
    const dataDir = await tempDir()
    const { code, stderr } = await failing(
      ['daemon', '--runtime', 'fake', '--data-dir', dataDir, '--api', '0.0.0.0:0'],
      { GARY_API_TOKEN: '' },
    )
    expect(code).not.toBe(0)
    expect(stderr).toContain('api: binding 0.0.0.0:0 beyond loopback needs an API token')
    expect(stderr).not.toMatch(STACK)
  })

  test('a test hook without the test-only switch is refused before anything starts', async () => {
    const dataDir = await tempDir()
    const args = ['daemon', '--runtime', 'fake', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0']
    for (const [env, names] of [
      [{ GARY_TEST_PARTITION: '1' }, 'GARY_TEST_PARTITION is a test hook: unset it'],
      [
        { GARY_TEST_PARTITION: '1', GARY_TEST_DROP_DECL_GOSSIP: '2' },
        'GARY_TEST_PARTITION and GARY_TEST_DROP_DECL_GOSSIP are test hooks: unset them',
      ],
    ] as const) {
      const { code, stderr } = await failing([...args, '--api', '127.0.0.1:0'], env)
      expect(code).toBe(1)
      expect(stderr).toBe(`gary: ${names} (a test passes --test-hooks too)\n`)
    }
  })

  test('`gary keygen` prints a key that --cluster-key accepts', async () => {
    const stdout = await runCli(['keygen'])
    const path = join(await tempDir(), 'cluster.key')
    await writeFile(path, stdout)
    expect(await readClusterKey(path)).toBeInstanceOf(Uint8Array)
    expect(await runCli(['keygen'])).not.toBe(stdout)
  })
})

describe('gary against a daemon with an API token', () => {
  let daemon: DaemonProcess

  beforeAll(async () => {
    daemon = new DaemonProcess({
      dataDir: await tempDir(),
      args: ['--api-token', TOKEN, '--cpu', '2', '--memory', '1Gi', '--label', 'zone=test', '--name', 'solo'],
    })
    daemons.push(daemon)
    await daemon.start()
  })

  test('without the token the daemon refuses', async () => {
    const { code, stderr } = await failing(['nodes', '--api', daemon.api, '--json'], { GARY_API_TOKEN: '' })
    expect(code).not.toBe(0)
    expect(stderr).toContain('missing or wrong API token')
    expect(stderr).not.toMatch(STACK)
  })

  test('with a wrong token the daemon refuses', async () => {
    const { stderr } = await failing(['nodes', '--api', daemon.api, '--api-token', `${TOKEN}x`])
    expect(stderr).toContain('missing or wrong API token')
  })

  test('with --api-token it lists this node, marked self', async () => {
    const nodes = JSON.parse(
      await runCli(['nodes', '--api', daemon.api, '--api-token', TOKEN, '--json']),
    ) as NodeView[]
    expect(nodes).toHaveLength(1)
    expect(nodes[0]).toMatchObject({
      id: daemon.peerId,
      self: true,
      state: 'alive',
      labels: { zone: 'test' },
      capacity: { cpuMillis: 2000, memoryBytes: 2 ** 30 },
    })
  })

  test('GARY_API and GARY_API_TOKEN work in place of the flags', async () => {
    const nodes = JSON.parse(
      await runCli(['nodes', '--json'], { GARY_API: daemon.api, GARY_API_TOKEN: TOKEN }),
    ) as NodeView[]
    expect(nodes.map((node) => node.id)).toEqual([daemon.peerId])
  })

  test('`gary id --json` gives addresses another node can --join', async () => {
    const id = JSON.parse(await runCli(['id', '--api', daemon.api, '--api-token', TOKEN, '--json'])) as {
      id: string
      addrs: string[]
    }
    expect(id.id).toBe(daemon.peerId)
    expect(id.addrs.length).toBeGreaterThan(0)
    for (const addr of id.addrs)
      expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${id.id}$`))
    expect(id.addrs).toContain(daemon.joinAddr)
  })

  test('`gary id` without --json prints one address a line', async () => {
    const stdout = await runCli(['id', '--api', daemon.api, '--api-token', TOKEN])
    expect(stdout.trimEnd().split('\n')).toContain(daemon.joinAddr)
  })

  test('`gary nodes` prints a table a person can read', async () => {
    const stdout = await runCli(['nodes', '--api', daemon.api, '--api-token', TOKEN])
    const [header, ...rows] = stdout.trimEnd().split('\n')
    expect(header!.split(/\s{2,}/)).toEqual([
      'NODE',
      'STATE',
      'DRAINING',
      'ADDRESSES',
      'LABELS',
      'CPU',
      'MEMORY',
      'LAST HEARD',
    ])
    expect(rows).toHaveLength(1)
    expect(rows[0]!.split(/\s{2,}/)).toEqual([
      `solo (${daemon.peerId.slice(-8)}, self)`,
      'alive',
      'no',
      expect.stringContaining('/ip4/127.0.0.1/tcp/'),
      'zone=test',
      '2',
      '1Gi',
      '-',
    ])
    // Columns line up: each cell starts where its header does.
    expect(rows[0]!.indexOf('alive')).toBe(header!.indexOf('STATE'))
    expect(rows[0]!.indexOf('zone=test')).toBe(header!.indexOf('LABELS'))
  })

  test('a second daemon on the same listen port exits saying the address is in use', async () => {
    const listen = daemon.joinAddr.replace(/\/p2p\/.*$/, '')
    const result = await runDaemonToExit([
      '--listen',
      listen,
      '--api',
      '127.0.0.1:0',
      '--data-dir',
      await tempDir(),
    ])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain(`listen address ${listen} is in use`)
    expect(result.stderr).toContain('--listen')
    expect(result.stderr).not.toMatch(STACK)
    expect(daemon.running).toBe(true)
  })

  test('a second daemon on the same API address exits saying it is in use', async () => {
    const result = await runDaemonToExit([
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api',
      daemon.api,
      '--data-dir',
      await tempDir(),
    ])
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain(`API address ${daemon.api} is in use`)
    expect(result.stderr).not.toMatch(STACK)
    expect(daemon.running).toBe(true)
  })
})

/** Starts `gary daemon` with exactly these addresses and waits for it to exit on its own. */
async function runDaemonToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [GARY_BIN, 'daemon', '--runtime', 'fake', ...args], {
    env: { ...withoutGarySettings(), GARY_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  children.push(child)
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  let exit: { code: number | null } | undefined
  child.once('exit', (code) => {
    exit = { code }
  })
  const { code } = await waitFor('the second daemon to exit', () => exit, { timeoutMs: 20_000 })
  // 'exit' can come before stderr is drained.
  await waitFor('its stderr to close', () => child.stderr!.closed)
  return { code, stderr }
}
