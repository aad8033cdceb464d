import { mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { resolveConfig } from '../src/config/config.js'
import { HostPathGuard } from '../src/reconcile/host-paths.js'

describe('HostPathGuard', () => {
  let root = ''
  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'gary-host-paths-')))
    await mkdir(join(root, 'srv', 'x', 'data'), { recursive: true })
    await mkdir(join(root, 'etc'))
    await mkdir(join(root, 'real-srv'))
    await symlink(join(root, 'etc'), join(root, 'srv', 'x', 'out'))
    await symlink(join(root, 'srv', 'x', 'data'), join(root, 'srv', 'x', 'in'))
    await symlink(join(root, 'real-srv'), join(root, 'linked-srv'))
  })
  afterAll(() => rm(root, { recursive: true, force: true }))

  const refusal = (guard: HostPathGuard, path: string) =>
    guard.check(path).then(
      () => undefined,
      (err: Error) => ({ name: err.name, message: err.message }),
    )

  test('a path below a prefix resolves to its real path, links inside the prefix included', async () => {
    const guard = new HostPathGuard([join(root, 'srv')], 'n1')
    expect(await guard.check(join(root, 'srv', 'x', 'data'))).toBe(join(root, 'srv', 'x', 'data'))
    expect(await guard.check(join(root, 'srv', 'x', 'in'))).toBe(join(root, 'srv', 'x', 'data'))
  })

  test('a link that leads out of the prefixes, a path outside them, or one that does not exist is refused, in one sentence', async () => {
    const guard = new HostPathGuard([join(root, 'srv')], 'n1')
    expect(await refusal(guard, join(root, 'srv', 'x', 'out'))).toEqual({
      name: 'HostPathRefusedError',
      message: `host path ${join(root, 'srv', 'x', 'out')} leads to ${join(root, 'etc')}, which is not allowed on n1`,
    })
    expect(await refusal(guard, join(root, 'etc'))).toEqual({
      name: 'HostPathRefusedError',
      message: `host path ${join(root, 'etc')} not allowed on n1`,
    })
    expect((await refusal(guard, join(root, 'srv', 'missing')))?.message).toBe(
      `host path ${join(root, 'srv', 'missing')} does not exist on n1`,
    )
  })

  test('a prefix that is itself a link allows what lies below its target', async () => {
    const guard = new HostPathGuard([join(root, 'linked-srv')], 'n1')
    expect(await guard.check(join(root, 'linked-srv'))).toBe(join(root, 'real-srv'))
  })
})

describe('--allow-host-path', () => {
  test('prefixes are normalised, deduplicated, and a relative one is refused with the setting named', () => {
    const config = resolveConfig([
      { source: 'flags', settings: { allowHostPath: ['/srv/x/', '/srv', '/data/a/../b'] } },
    ])
    expect(config.allowHostPaths).toEqual(['/data/b', '/srv'])
    expect(resolveConfig([{ source: 'env', settings: { allowHostPath: '/a,/b' } }]).allowHostPaths).toEqual([
      '/a',
      '/b',
    ])
    expect(resolveConfig([]).allowHostPaths).toEqual([])
    expect(() => resolveConfig([{ source: 'flags', settings: { allowHostPath: ['srv'] } }])).toThrow(
      /flags: allowHostPath: "srv" is not an absolute path/,
    )
  })
})
