import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GARY_BIN } from '../src/testing/index.js'

// A client command's start-up is the modules it loads: `gary ps` must not load the daemon's
// stack (libp2p, dockerode) nor the protocol's parsers (zod, yaml), only what a client needs.
describe('the modules a client command loads', () => {
  let dir: string
  let hook: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gary-cli-startup-'))
    hook = join(dir, 'record.mjs')
    // A module hook that appends every module URL the process resolves to a file.
    await writeFile(
      hook,
      `import { appendFileSync } from 'node:fs'
import { register } from 'node:module'
const hooks = ${JSON.stringify(`
import { appendFileSync } from 'node:fs'
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context)
  appendFileSync(process.env.GARY_TEST_MODULES, resolved.url + '\\n')
  return resolved
}`)}
register('data:text/javascript,' + encodeURIComponent(hooks))
appendFileSync(process.env.GARY_TEST_MODULES, '')
`,
    )
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  /**
   * The modules `gary ps` loads, by source path: from dist/, each file is one; from the bundle
   * (`scripts/bundle.mjs`), each chunk loaded names the sources it holds in its region comments.
   */
  async function modulesOfPs(bundle: boolean): Promise<string[]> {
    const log = join(dir, `modules-${bundle}.txt`)
    // No daemon listens there: the command fails after loading what it needs, which is the point.
    spawnSync(
      process.execPath,
      ['--import', pathToFileURL(hook).href, GARY_BIN, 'ps', '--api', '127.0.0.1:1'],
      {
        env: { PATH: process.env.PATH, GARY_TEST_MODULES: log, ...(bundle ? {} : { GARY_NO_BUNDLE: '1' }) },
        encoding: 'utf8',
        timeout: 30_000,
      },
    )
    const urls = (await readFile(log, 'utf8')).split('\n').filter((line) => line !== '')
    const chunks = urls.filter((url) => url.includes('/dist/bundle/'))
    expect(chunks.length > 0, 'the bundle was run').toBe(bundle)
    if (!bundle) return urls
    const sources: string[] = []
    for (const url of chunks)
      for (const match of (await readFile(new URL(url), 'utf8')).matchAll(
        /^\/\/ ((?:node_modules|packages)\/\S+)$/gm,
      ))
        sources.push(`/${match[1]}`)
    return sources
  }

  it.each([
    ['the bundle', true],
    ['dist/', false],
  ])('`gary ps` from %s loads neither libp2p, dockerode, zod nor yaml', async (_, bundle) => {
    const modules = await modulesOfPs(bundle)
    expect(
      modules.some((path) => path.includes('/commands/ps.js')),
      'the hook saw the command load',
    ).toBe(true)
    const heavy = modules.filter((path) => /node_modules\/(libp2p|@libp2p|dockerode|zod|yaml)\//.test(path))
    expect(heavy).toEqual([])
  })
})
