import { execFile, spawn } from 'node:child_process'
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { NodeView } from '../src/api/routes.js'
import {
  DaemonProcess,
  GARY_BIN,
  runCli,
  takenPort,
  waitFor,
  withoutGarySettings,
} from '../src/testing/index.js'

// The rough edges a new user found, one test each: what they typed, and what they must see.

const STACK = /^\s+at /m
const dirs: string[] = []
const daemons: DaemonProcess[] = []

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gary-edges-'))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  await Promise.all(daemons.map((daemon) => daemon.kill('SIGTERM')))
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

/** Runs gary with `input` on stdin; resolves with what it printed and its exit code. */
function gary(
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [GARY_BIN, ...args],
      { env: { ...withoutGarySettings(), ...options.env } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    )
    child.stdin?.end(options.input ?? '')
  })
}

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('without a daemon', () => {
  test('`gary keygen | head -c 30` ends quietly when head stops reading', async () => {
    // The crash was a race between head closing the pipe and gary's second write: try it a few times.
    for (let i = 0; i < 5; i++) {
      const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number }>(
        (resolve) => {
          const child = spawn('sh', ['-c', `"${process.execPath}" "${GARY_BIN}" keygen | head -c 30`], {
            stdio: ['ignore', 'pipe', 'pipe'],
          })
          let out = ''
          let err = ''
          child.stdout.on('data', (chunk: Buffer) => {
            out += chunk
          })
          child.stderr.on('data', (chunk: Buffer) => {
            err += chunk
          })
          child.on('close', (exit) => resolve({ stdout: out, stderr: err, code: exit ?? -1 }))
        },
      )
      expect(stdout).toBe('/key/swarm/psk/1.0.0/\n/base16/\n'.slice(0, 30))
      expect(stderr).toBe('')
      expect(code).toBe(0)
    }
  })

  test('under --json an unreachable daemon is a JSON error on stderr, and nothing on stdout', async () => {
    const port = await closedPort()
    const { code, stdout, stderr } = await gary(['ps', '--api', `127.0.0.1:${port}`, '--json'])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    const error = JSON.parse(stderr) as { name: string; error: string }
    expect(error.name).toBe('DaemonUnreachableError')
    expect(error.error).toContain(`no Gary daemon answers at 127.0.0.1:${port} (ECONNREFUSED)`)
  })

  test('under --json a usage error is a JSON error too', async () => {
    const { code, stderr } = await gary(['ps', '--bogus', '--json'])
    expect(code).toBe(1)
    expect(JSON.parse(stderr)).toMatchObject({ name: 'UsageError', error: "unknown option '--bogus'" })
  })

  test('`--api https://...` and a nonsense address are explained in a sentence', async () => {
    const https = await gary(['ps', '--api', 'https://127.0.0.1:7947'])
    expect(https.stderr).toContain('speaks plain http, not https')
    const nonsense = await gary(['ps', '--api', '127.0.0.1:7947/v1'])
    expect(nonsense.stderr).toContain('"127.0.0.1:7947/v1" is not an API address: give host:port')
    for (const { stderr } of [https, nonsense]) expect(stderr).not.toMatch(STACK)
  })

  test('`gary convert -f` prints a Compose file as Gary specs, with what it ignored on stderr', async () => {
    const file = new URL('../../../examples/compose/wordpress.yaml', import.meta.url).pathname
    const { code, stdout, stderr } = await gary(['convert', '-f', file], {
      env: { WORDPRESS_PORT: '8123', WORDPRESS_DEBUG: '1' },
    })
    expect(code).toBe(0)
    const { parseAllDocuments } = await import('yaml')
    const specs = parseAllDocuments(stdout).map((document) => document.toJS())
    expect(specs.map((spec) => spec.name)).toEqual(['db', 'wordpress'])
    expect(specs[1]).toMatchObject({
      ports: [{ container: 80, host: 8123, protocol: 'tcp' }],
      env: { WORDPRESS_DB_HOST: 'db:3306', WORDPRESS_DEBUG: '1', WORDPRESS_DB_USER: 'wordpress' },
      restart: { policy: 'always' },
    })
    expect(stderr).toContain(`${file}: service wordpress: ignored depends_on: `)
    expect(specs[0]).toMatchObject({ secrets: ['db_password'] })
    expect(stderr).toContain(`${file}: Gary does not read a secret's value from the Compose file`)
  })

  test('an env_file that is no plain file (/dev/zero) is refused, not read forever', async () => {
    const file = join(await tempDir(), 'compose.yaml')
    await writeFile(file, 'services:\n  a:\n    image: x\n    env_file: /dev/zero\n')
    const { code, stderr } = await gary(['convert', '-f', file])
    expect(code).toBe(1)
    expect(stderr).toContain(`${file}: services.a.env_file: /dev/zero cannot be read`)
  })

  test('a missing cluster key file stops the daemon before it creates its data dir or says started', async () => {
    const dataDir = join(await tempDir(), 'never-made')
    const { code, stdout, stderr } = await gary(
      [
        'daemon',
        '--runtime',
        'fake',
        '--data-dir',
        dataDir,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--api',
        '127.0.0.1:0',
        '--cluster-key',
        join(dataDir, '..', 'missing.key'),
      ],
      { env: { GARY_LOG_FORMAT: 'json' } },
    )
    expect(code).toBe(1)
    expect(stderr).toContain('cannot read cluster key')
    expect(stdout).not.toContain('"started"')
    await expect(access(dataDir)).rejects.toThrow(/ENOENT/)
  })

  test('a daemon whose API address is taken never says started', async () => {
    const { port, close } = await takenPort()
    try {
      const { code, stdout, stderr } = await gary(
        [
          'daemon',
          '--runtime',
          'fake',
          '--data-dir',
          await tempDir(),
          '--listen',
          '/ip4/127.0.0.1/tcp/0',
          '--api',
          `127.0.0.1:${port}`,
        ],
        { env: { GARY_LOG_FORMAT: 'json' } },
      )
      expect(code).toBe(1)
      expect(stderr).toContain(`API address 127.0.0.1:${port} is in use`)
      expect(stdout).not.toContain('"started"')
    } finally {
      await close()
    }
  })
})

describe('against daemons', () => {
  let first: DaemonProcess
  let second: DaemonProcess
  let specs: string

  beforeAll(async () => {
    first = new DaemonProcess({ dataDir: await tempDir() })
    daemons.push(first)
    await first.start()
    second = new DaemonProcess({ dataDir: await tempDir(), join: [first.joinAddr] })
    daemons.push(second)
    await second.start()
    specs = await tempDir()
    await writeFile(join(specs, 'web.yaml'), 'name: web\nimage: busybox\n')
    await writeFile(join(specs, 'db.yaml'), 'name: db\nimage: busybox\n')
    await mkdir(join(specs, 'dir'))
    await writeFile(join(specs, 'dir', 'a.yml'), 'name: dir-a\nimage: busybox\n')
    await writeFile(join(specs, 'dir', 'b.json'), JSON.stringify({ name: 'dir-b', image: 'busybox' }))
    await writeFile(join(specs, 'dir', 'notes.txt'), 'not a spec')
  })

  const names = async () => (await first.cli<{ name: string }[]>('get')).map((row) => row.name).sort()

  test('`apply -f` takes several files, a directory and - (stdin), in one go', async () => {
    const { code, stdout, stderr } = await gary(
      [
        'apply',
        '--api',
        first.api,
        '-f',
        join(specs, 'web.yaml'),
        '-f',
        join(specs, 'dir'),
        '-f',
        '-',
        '-f',
        join(specs, 'db.yaml'),
      ],
      { input: 'name: piped\nimage: busybox\n' },
    )
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout.trimEnd().split('\n')).toEqual([
      'web: created',
      'dir-a: created',
      'dir-b: created',
      'piped: created',
      'db: created',
    ])
    expect(await names()).toEqual(['db', 'dir-a', 'dir-b', 'piped', 'web'])
  })

  test('a typo in one of several files applies nothing, and names the file and the field meant', async () => {
    await writeFile(join(specs, 'typo.yaml'), 'name: cache\nimage: busybox\nreplica: 2\n')
    await writeFile(join(specs, 'fine.yaml'), 'name: fine\nimage: busybox\n')
    const { code, stderr } = await gary([
      'apply',
      '--api',
      first.api,
      '-f',
      join(specs, 'fine.yaml'),
      '-f',
      join(specs, 'typo.yaml'),
    ])
    expect(code).toBe(1)
    expect(stderr).toContain(
      `${join(specs, 'typo.yaml')}: spec.replica: unknown field (did you mean replicas?)`,
    )
    expect(stderr).not.toMatch(STACK)
    expect(await names()).not.toContain('fine')
  })

  test('files each under the limit but together over what one apply takes are refused whole', async () => {
    const big = (name: string) =>
      `name: ${name}\nimage: busybox\nenv:\n${Array.from({ length: 30 }, (_, i) => `  V${i}: ${'x'.repeat(24_000)}\n`).join('')}`
    await writeFile(join(specs, 'big-1.yaml'), big('big-one'))
    await writeFile(join(specs, 'big-2.yaml'), big('big-two'))
    const { code, stderr } = await gary([
      'apply',
      '--api',
      first.api,
      '-f',
      join(specs, 'big-1.yaml'),
      '-f',
      join(specs, 'big-2.yaml'),
    ])
    expect(code).toBe(1)
    expect(stderr).toMatch(
      /^gary: the files declare \d+ bytes of specs, over the 1048576 bytes one apply takes: nothing applied/,
    )
    expect(await names()).not.toContain('big-one')
  })

  test('a directory without specs, and a missing file, are one sentence each', async () => {
    const empty = await tempDir()
    const { stderr } = await gary(['apply', '--api', first.api, '-f', empty])
    expect(stderr).toBe(`gary: ${empty} is a directory with no .yaml, .yml or .json file\n`)
    const missing = await gary(['apply', '--api', first.api, '-f', join(empty, 'nope.yaml')])
    expect(missing.stderr).toMatch(/^gary: cannot read .*nope\.yaml: ENOENT/)
  })

  test('`--api http://HOST:PORT/` is understood, from the flag or GARY_API', async () => {
    const { stdout } = await gary(['ps', '--api', `http://${first.api}/`, '--json'])
    expect(Array.isArray(JSON.parse(stdout))).toBe(true)
    const fromEnv = await gary(['ps', '--json'], { env: { GARY_API: `http://${first.api}` } })
    expect(Array.isArray(JSON.parse(fromEnv.stdout))).toBe(true)
  })

  test('`gary node ls` on one node shows another draining; `gary node inspect` finds it by the end of its id', async () => {
    await runCli(['drain', '--api', second.api])
    const rows = await waitFor('the first node to see the second draining', async () => {
      const nodes = await first.cli<NodeView[]>('node', 'ls')
      return nodes.find((node) => node.id === second.peerId)?.draining === true ? nodes : undefined
    })
    expect(rows.find((node) => node.id === first.peerId)?.draining).toBe(false)
    const table = await runCli(['node', 'ls', '--api', first.api])
    const [header, ...lines] = table.trimEnd().split('\n')
    const column = header!.indexOf('DRAINING')
    expect(
      lines.find((line) => line.includes(`(${second.peerId.slice(-8)}`))!.slice(column, column + 3),
    ).toBe('yes')
    expect(lines.find((line) => line.includes(`(${first.peerId.slice(-8)}`))!.slice(column, column + 2)).toBe(
      'no',
    )

    const inspected = await first.cli<NodeView & { slots: unknown[] }>(
      'node',
      'inspect',
      second.peerId.slice(-8),
    )
    expect(inspected).toMatchObject({ id: second.peerId, draining: true, state: 'alive' })
    expect(Array.isArray(inspected.slots)).toBe(true)
    const unknown = await gary(['node', 'inspect', 'nosuchnode', '--api', first.api])
    expect(unknown.stderr).toContain('no member nosuchnode is known to this node')
  })
})
