import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DaemonProcess, waitFor, withoutGarySettings } from '../packages/node/src/testing/index.js'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('..', import.meta.url))

// The CLI as a user installs it: the packages packed by `npm pack`, installed globally into a
// prefix of the test's own (never the machine's), run from a directory outside the repository.
describe('gary installed from npm pack tarballs', () => {
  let work: string
  let gary: string
  let daemon: DaemonProcess | undefined

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'gary-install-'))
    const packs = join(work, 'packs')
    await mkdir(packs)
    await run(
      'npm',
      [
        'pack',
        '-w',
        'packages/protocol',
        '-w',
        'packages/runtime',
        '-w',
        'packages/node',
        '--pack-destination',
        packs,
      ],
      { cwd: REPO },
    )
    const tarballs = (await readdir(packs)).map((name) => join(packs, name))
    expect(tarballs.map((path) => path.replace(/.*\//, '')).sort()).toEqual([
      'gary-node-0.1.0.tgz',
      'gary-protocol-0.1.0.tgz',
      'gary-runtime-0.1.0.tgz',
    ])
    const prefix = join(work, 'prefix')
    // The dependencies come from npm's cache, filled by the `npm ci` that set up this checkout.
    await run(
      'npm',
      ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', ...tarballs],
      { cwd: work, timeout: 240_000 },
    )
    gary = join(prefix, 'bin', 'gary')
  }, 300_000)

  afterAll(async () => {
    await daemon?.kill('SIGTERM')
    await rm(work, { recursive: true, force: true })
  })

  test('its daemon runs, and `gary ps` from another directory reads it', async () => {
    const elsewhere = await mkdtemp(join(work, 'elsewhere-'))
    daemon = new DaemonProcess({ dataDir: join(work, 'data'), bin: gary, cwd: elsewhere })
    await daemon.start()
    const spec = join(elsewhere, 'web.yaml')
    await writeFile(spec, 'name: web\nimage: busybox\nreplicas: 2\n')
    const env = { ...withoutGarySettings(), GARY_API: daemon.api }
    await run(gary, ['apply', '-f', 'web.yaml'], { cwd: elsewhere, env })
    const rows = await waitFor('the installed gary ps to list both slots of web, running', async () => {
      const { stdout } = await run(gary, ['ps', '--json'], { cwd: elsewhere, env })
      const listed = JSON.parse(stdout) as { workload: string; node: string; phase: string }[]
      return listed.length === 2 && listed.every((row) => row.phase === 'running') ? listed : undefined
    })
    expect(rows.map((row) => row.workload)).toEqual(['web', 'web'])
    expect(rows.every((row) => row.node === daemon!.peerId)).toBe(true)
    // The executable is the installed copy, not this checkout's.
    const { stdout: version } = await run(gary, ['--version'], { cwd: elsewhere })
    expect(version.trim()).toBe('0.1.0')
    expect(gary.startsWith(work)).toBe(true)
  })
})
