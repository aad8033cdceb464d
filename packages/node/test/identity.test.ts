import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeEach, describe, expect, test } from 'vitest'
import { loadOrCreatePeerKey, nextIncarnation, writeFileAtomic } from '../src/data-dir/identity.js'
import type { Logger } from '../src/logger.js'
import { generateClusterKey, readClusterKey } from '../src/net/cluster-key.js'

const dirs: string[] = []
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gary-identity-'))
  dirs.push(dir)
})

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a rejection, got none')
}

describe('loadOrCreatePeerKey', () => {
  test('creates a key once; every later start has the same peer id', async () => {
    const dataDir = join(dir, 'nested', 'data')
    const first = await loadOrCreatePeerKey(dataDir)
    const onDisk = await readFile(join(dataDir, 'peer.key'))
    const second = await loadOrCreatePeerKey(dataDir)
    expect(peerIdFromPrivateKey(second).toString()).toBe(peerIdFromPrivateKey(first).toString())
    expect(second.equals(first)).toBe(true)
    // Loading does not rewrite the key.
    expect(await readFile(join(dataDir, 'peer.key'))).toEqual(onDisk)
  })

  test('different data dirs are different nodes', async () => {
    const a = await loadOrCreatePeerKey(join(dir, 'a'))
    const b = await loadOrCreatePeerKey(join(dir, 'b'))
    expect(peerIdFromPrivateKey(a).equals(peerIdFromPrivateKey(b))).toBe(false)
  })

  test.skipIf(process.platform === 'win32')('the key file is readable by its owner only', async () => {
    await loadOrCreatePeerKey(dir)
    expect((await stat(join(dir, 'peer.key'))).mode & 0o777).toBe(0o600)
  })

  test('a corrupt key file is a UserError saying what to do', async () => {
    const path = join(dir, 'peer.key')
    await writeFile(path, 'not a protobuf key')
    const err = await rejection(loadOrCreatePeerKey(dir))
    expect(err.name).toBe('UserError')
    expect(err.message).toContain(path)
    expect(err.message).toContain('move it away')
    // The corrupt file is left for the user to inspect, not silently replaced.
    expect(await readFile(path, 'utf8')).toBe('not a protobuf key')
  })
})

describe('nextIncarnation', () => {
  test('strictly grows across calls, even when the wall clock goes backwards', async () => {
    const clock = [1_000_000, 1_000_000, 999_000, 5, 0, 1_000_500, 1_000_501]
    const seen: number[] = []
    for (const wallNow of clock) seen.push(await nextIncarnation(dir, wallNow))
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]!)
    // It follows the wall clock when the clock is ahead, so a lost file cannot make it go back.
    expect(seen[0]).toBe(1_000_000)
    expect(seen.at(-1)).toBeGreaterThanOrEqual(1_000_501)
  })

  test('survives a lost file by following the wall clock', async () => {
    const before = await nextIncarnation(dir, 2_000)
    await rm(join(dir, 'incarnation'))
    expect(await nextIncarnation(dir, 3_000)).toBeGreaterThan(before)
  })

  test('a garbled file does not stop the node, and the repair is said', async () => {
    await writeFile(join(dir, 'incarnation'), 'garbage')
    const warnings: unknown[] = []
    const logger = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger
    expect(await nextIncarnation(dir, 42, logger)).toBe(42)
    expect(warnings).toEqual([
      [
        { path: join(dir, 'incarnation'), incarnation: 42, problem: 'held "garbage", not a whole number' },
        'incarnation file holds no number: starting from the wall clock',
      ],
    ])
  })

  test('a number that leaves no larger incarnation stops the start with one sentence, and stays', async () => {
    const path = join(dir, 'incarnation')
    for (const text of [String(Number.MAX_SAFE_INTEGER), '9007199254740993', '1'.repeat(400)]) {
      await writeFile(path, text)
      const err = await rejection(nextIncarnation(dir, 42))
      expect(err.name).toBe('IncarnationError')
      expect(err.message).toMatch(
        new RegExp(`^${path} holds \\d+(\\.\\.\\.)?, which leaves no larger incarnation`),
      )
      expect(err.message).toContain('delete it')
      expect(await readFile(path, 'utf8')).toBe(text)
    }
    // One below the limit is the last start it allows.
    await writeFile(path, String(Number.MAX_SAFE_INTEGER - 1))
    expect(await nextIncarnation(dir, 42)).toBe(Number.MAX_SAFE_INTEGER)
  })
})

describe('writeFileAtomic', () => {
  test('writes the content and leaves no temp file behind', async () => {
    const path = join(dir, 'state')
    await writeFileAtomic(path, 'one')
    await writeFileAtomic(path, new TextEncoder().encode('two'))
    expect(await readFile(path, 'utf8')).toBe('two')
    expect(await readdir(dir)).toEqual(['state'])
  })
})

describe('cluster key', () => {
  test('readClusterKey accepts what `gary keygen` makes', async () => {
    const key = generateClusterKey()
    const path = join(dir, 'cluster.key')
    await writeFile(path, key)
    expect(await readClusterKey(path)).toEqual(key)
    // keygen prints a newline after the key; a file saved from its output is accepted too.
    await writeFile(path, Buffer.concat([key, Buffer.from('\n')]))
    expect((await readClusterKey(path)).length).toBe(key.length + 1)
  })

  test('two keys differ', () => {
    expect(generateClusterKey()).not.toEqual(generateClusterKey())
  })

  test.each([
    ['garbage', 'hello world\n'],
    ['a short key', '/key/swarm/psk/1.0.0/\n/base16/\nabcdef\n'],
    ['a non-hex key', `/key/swarm/psk/1.0.0/\n/base16/\n${'z'.repeat(64)}\n`],
    ['an empty file', ''],
  ])('readClusterKey refuses %s with ClusterKeyError', async (_, text) => {
    const path = join(dir, 'bad.key')
    await writeFile(path, text)
    const err = await rejection(readClusterKey(path))
    expect(err.name).toBe('ClusterKeyError')
    expect(err.message).toContain(`${path} is not a cluster key`)
    expect(err.message).toContain('gary keygen')
  })

  test('a missing key file is a ClusterKeyError naming it', async () => {
    const path = join(dir, 'absent.key')
    const err = await rejection(readClusterKey(path))
    expect(err.name).toBe('ClusterKeyError')
    expect(err.message).toContain(`cannot read cluster key ${path}`)
  })
})
