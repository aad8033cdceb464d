import { mkdtemp, readFile, rm, stat, statfs } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type DeclEntry,
  DeclStore,
  type DeclVersion,
  deriveSecretsKey,
  normaliseWorkload,
  registryEntryName,
  sealSecret,
  secretEntryName,
  type Workload,
} from '@gary/protocol'
import fc from 'fast-check'
import { pino } from 'pino'
import { afterAll, describe, expect, test } from 'vitest'
import { SecretUnavailableError } from '../src/reconcile/secret-files.js'
import { SecretInUseError, SecretKeeper, SecretsNeedClusterKeyError } from '../src/secrets/keeper.js'
import { TmpfsSecretFiles } from '../src/secrets/tmpfs-files.js'

// The secret keeper over a declaration store, and the tmpfs that hands secrets to containers.

const KEY = deriveSecretsKey(new Uint8Array(32).fill(9))
const logger = pino({ level: 'silent' })
const bytes = (text: string) => new Uint8Array(Buffer.from(text))

/** The declarations' `update` as the daemon's, minus the disk: versions from a counter. */
function declarations(store = new DeclStore()) {
  let wall = 1000
  return {
    store,
    async update(
      names: string[],
      build: (current: DeclEntry | undefined, version: DeclVersion) => DeclEntry | undefined,
    ) {
      const written = names.flatMap((name) => {
        const entry = build(store.get(name), { hlc: { wall: ++wall, logical: 0 }, origin: 'self' })
        return entry === undefined ? [] : [entry]
      })
      for (const entry of written) store.merge(entry)
      return written
    },
  }
}

const workload = (spec: object): Workload => {
  const parsed = normaliseWorkload({ name: 'app', image: 'busybox', ...spec })
  if (!parsed.ok) throw new Error(parsed.problems.join('; '))
  return parsed.workloads[0]!
}

describe('SecretKeeper', () => {
  test('a new value rolls the workloads that read it; the same value writes nothing', async () => {
    const decls = declarations()
    const keeper = new SecretKeeper(KEY, { declarations: decls })
    expect((await keeper.put('db', bytes('one'))).outcome).toBe('created')
    const applied = keeper.stamp(workload({ secrets: ['db'] }))
    await decls.update(['app'], (_, version) => ({ name: 'app', version, deleted: false, workload: applied }))
    const first = applied.secrets![0]!.version
    expect(first).toMatch(/^[0-9a-f]{12}$/)

    expect(await keeper.put('db', bytes('one'))).toEqual({ outcome: 'unchanged', rolled: [] })
    expect(await keeper.put('db', bytes('two'))).toEqual({ outcome: 'updated', rolled: ['app'] })
    const after = decls.store.get('app')!
    expect(after.workload!.secrets![0]!.version).not.toBe(first)
    expect(after.cause).toBe('secret db changed')
    expect(Buffer.from(keeper.open('db') as Uint8Array).toString()).toBe('two')
    // The store holds it sealed.
    expect(JSON.stringify(decls.store.entries())).not.toContain(Buffer.from('two').toString('base64'))

    await expect(keeper.remove('db')).rejects.toBeInstanceOf(SecretInUseError)
    expect(keeper.list((wall) => String(wall))).toEqual([
      expect.objectContaining({ name: 'db', kind: 'secret', usedBy: ['app'] }),
    ])
  })

  test('a cluster without a key keeps no secrets, in one sentence', async () => {
    const keeper = new SecretKeeper(undefined, { declarations: declarations() })
    expect(keeper.enabled).toBe(false)
    await expect(keeper.put('db', bytes('x'))).rejects.toBeInstanceOf(SecretsNeedClusterKeyError)
    await expect(keeper.login('ghcr.io', 'u', 'p')).rejects.toBeInstanceOf(SecretsNeedClusterKeyError)
    expect(keeper.open('db')).toMatch(/no cluster key/)
  })

  test("a login opens for its registry's images only", async () => {
    const keeper = new SecretKeeper(KEY, { declarations: declarations() })
    await keeper.login('ghcr.io', 'robot', 'token')
    expect(keeper.registryAuth('ghcr.io/team/app:1')).toEqual({
      username: 'robot',
      password: 'token',
      serveraddress: 'ghcr.io',
    })
    expect(keeper.registryAuth('busybox')).toBeUndefined()
    expect(await keeper.logout('ghcr.io')).toBe('deleted')
    expect(keeper.registryAuth('ghcr.io/team/app:1')).toBeUndefined()
  })

  test('entries a key holder sealed badly, or under another key, never throw: they are reasons', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 300 }),
        (other, value) => {
          const store = new DeclStore()
          const version = { hlc: { wall: 1, logical: 0 }, origin: 'liar' }
          const foreign = deriveSecretsKey(other)
          store.merge({
            name: secretEntryName('db'),
            version,
            deleted: false,
            sealed: sealSecret(foreign, secretEntryName('db'), value, new Uint8Array(12)),
          })
          store.merge({
            name: registryEntryName('ghcr.io'),
            version,
            deleted: false,
            sealed: sealSecret(KEY, registryEntryName('ghcr.io'), value, new Uint8Array(12)),
          })
          const keeper = new SecretKeeper(KEY, { declarations: declarations(store) })
          const opened = keeper.open('db')
          if (typeof opened === 'string')
            expect(opened).toBe("secret db does not open with this node's cluster key")
          keeper.registryAuth('ghcr.io/x')
          expect(keeper.list(String)).toHaveLength(2)
        },
      ),
    )
  })
})

describe('TmpfsSecretFiles', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })
  const open = (name: string) => (name === 'db' ? bytes('hunter2') : `secret ${name} does not exist`)

  test('writes each secret with its mode for one container, and forgets them with it', async () => {
    const dir = await mkdtemp('/dev/shm/gary-secrets-unit-')
    dirs.push(dir)
    const files = new TmpfsSecretFiles(join(dir, 'node'), { open, logger })
    await files.start()
    const mounts = await files.write(
      workload({ secrets: ['db', { name: 'db', target: 'copy', mode: '0400' }] }),
      'gary-app-1',
    )
    expect(mounts.map((m) => m.target)).toEqual(['/run/secrets/db', '/run/secrets/copy'])
    expect((await readFile(mounts[0]!.source)).toString()).toBe('hunter2')
    expect((await stat(mounts[1]!.source)).mode & 0o777).toBe(0o400)
    expect((await stat(join(dir, 'node'))).mode & 0o777).toBe(0o700)

    await expect(files.write(workload({ secrets: ['nope'] }), 'gary-app-2')).rejects.toThrow(
      'secret nope does not exist',
    )
    await files.release('gary-app-1')
    await expect(stat(mounts[0]!.source)).rejects.toThrow(/ENOENT/)
    await files.release('../..')
    expect((await stat(dir)).isDirectory()).toBe(true)
  })

  test('a directory on disk delivers nothing, and says why', async () => {
    // A directory on disk: the temporary directory, unless that is a tmpfs here.
    const onDisk = Number((await statfs(tmpdir())).type) === 0x01021994 ? homedir() : tmpdir()
    const dir = await mkdtemp(join(onDisk, 'gary-secrets-disk-'))
    dirs.push(dir)
    const files = new TmpfsSecretFiles(dir, { open, logger })
    await files.start()
    const failure = await files.write(workload({ secrets: ['db'] }), 'gary-app-1').catch((err: Error) => err)
    expect(failure).toBeInstanceOf(SecretUnavailableError)
    expect((failure as Error).message).toContain('is not on a tmpfs')
  })
})
