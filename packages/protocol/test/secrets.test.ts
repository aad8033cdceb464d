import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type DeclEntry,
  DeclStore,
  decodeDeclEntries,
  decodeRegistryLogin,
  deriveSecretsKey,
  encodeDeclEntries,
  encodeEnvelope,
  encodeRegistryLogin,
  generationOf,
  MAX_SECRET_BYTES,
  normaliseWorkload,
  openSecret,
  SECRET_NONCE_BYTES,
  sealSecret,
  secretEntryName,
  secretVersion,
  type Workload,
} from '../src/index.js'

const key = fc.uint8Array({ minLength: 32, maxLength: 95 }).map(deriveSecretsKey)
const nonce = fc.uint8Array({ minLength: SECRET_NONCE_BYTES, maxLength: SECRET_NONCE_BYTES })
const value = fc.uint8Array({ maxLength: 2048 })
const secretName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/)

describe('the secret codec', () => {
  test('what is sealed opens, with the same key and name, to the same bytes', () => {
    fc.assert(
      fc.property(key, secretName, value, nonce, (k, name, v, n) => {
        const sealed = sealSecret(k, secretEntryName(name), v, n)
        expect(openSecret(k, secretEntryName(name), sealed)).toEqual(v)
      }),
    )
  })

  test('a changed byte, another key or another name does not open', () => {
    fc.assert(
      fc.property(
        key,
        key,
        secretName,
        value,
        nonce,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (k, other, name, v, n, at, flip) => {
          const entry = secretEntryName(name)
          const sealed = sealSecret(k, entry, v, n)
          const bytes = Buffer.from(sealed, 'base64')
          bytes[at % bytes.length] = (bytes[at % bytes.length] ?? 0) ^ flip
          expect(openSecret(k, entry, bytes.toString('base64'))).toBeUndefined()
          if (Buffer.compare(Buffer.from(k), Buffer.from(other)) !== 0)
            expect(openSecret(other, entry, sealed)).toBeUndefined()
          expect(openSecret(k, secretEntryName(`${name}x`), sealed)).toBeUndefined()
        },
      ),
    )
  })

  test('anything at all as a sealed value is refused without a throw', () => {
    fc.assert(
      fc.property(key, fc.string(), fc.oneof(fc.string(), fc.base64String()), (k, name, sealed) => {
        expect(openSecret(k, name, sealed)).toBeUndefined()
      }),
    )
  })

  test('the key depends on the cluster key, and is not the cluster key', () => {
    const clusterKey = new Uint8Array(32).fill(7)
    expect(Buffer.from(deriveSecretsKey(clusterKey))).not.toEqual(Buffer.from(clusterKey))
    expect(Buffer.from(deriveSecretsKey(clusterKey))).toEqual(Buffer.from(deriveSecretsKey(clusterKey)))
    expect(Buffer.from(deriveSecretsKey(new Uint8Array(32).fill(8)))).not.toEqual(
      Buffer.from(deriveSecretsKey(clusterKey)),
    )
  })

  test('a version says which write, not what value', () => {
    const k = deriveSecretsKey(new Uint8Array(32))
    const v = new Uint8Array(Buffer.from('hunter2'))
    const a = sealSecret(k, '@secret/db', v, new Uint8Array(12).fill(1))
    const b = sealSecret(k, '@secret/db', v, new Uint8Array(12).fill(2))
    expect(secretVersion(a)).toMatch(/^[0-9a-f]{12}$/)
    expect(secretVersion(a)).not.toBe(secretVersion(b))
  })

  test('registry logins round-trip, and anything else is no login', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 50 }),
        fc.string({ maxLength: 50 }),
        (username, password) => {
          expect(decodeRegistryLogin(encodeRegistryLogin({ username, password }))).toEqual({
            username,
            password,
          })
        },
      ),
    )
    fc.assert(
      fc.property(fc.uint8Array(), (bytes) => {
        const login = decodeRegistryLogin(bytes)
        if (login !== undefined) expect(typeof login.username).toBe('string')
      }),
    )
  })
})

const k = deriveSecretsKey(new Uint8Array(32).fill(3))
const sealedEntry = (name: string, wall: number): DeclEntry => ({
  name: secretEntryName(name),
  version: { hlc: { wall, logical: 0 }, origin: 'n1' },
  deleted: false,
  sealed: sealSecret(
    k,
    secretEntryName(name),
    new Uint8Array(Buffer.from(`value of ${name}`)),
    new Uint8Array(12),
  ),
})

describe('secret entries in the declaration store', () => {
  test('a secret entry travels, merges by version, and is no workload', () => {
    const decoded = decodeDeclEntries(encodeDeclEntries([sealedEntry('db', 1), sealedEntry('db', 2)]))
    expect(decoded.ok).toBe(true)
    if (!decoded.ok) return
    const store = new DeclStore(decoded.value)
    expect(store.live()).toEqual([])
    expect(store.sealed().map((e) => e.version.hlc.wall)).toEqual([2])
    store.merge({
      name: secretEntryName('db'),
      version: { hlc: { wall: 3, logical: 0 }, origin: 'n1' },
      deleted: true,
    })
    expect(store.sealed()).toEqual([])
  })

  test('hostile secret entries are refused by the decoder, never thrown on', () => {
    const good = sealedEntry('db', 1)
    const hostile: unknown[] = [
      { ...good, sealed: undefined },
      { ...good, deleted: true },
      { ...good, sealed: 'not base64 !' },
      { ...good, sealed: 'A'.repeat(200_000) },
      { ...good, workload: { name: 'db' } },
      { ...good, revision: 2 },
      { ...good, name: '@secret/../../etc' },
      { ...good, name: '@secret/' },
      { ...good, name: '@registry/a b' },
      { name: 'web', version: good.version, deleted: false, sealed: good.sealed },
    ]
    for (const entry of hostile) {
      const decoded = decodeDeclEntries(encodeEnvelope('decls', [entry]))
      expect(decoded.ok, JSON.stringify(entry).slice(0, 120)).toBe(false)
    }
  })

  test('any entry a decoder accepts, sealed or not, opens or is refused without a throw', () => {
    fc.assert(
      fc.property(
        secretName,
        fc.oneof(fc.base64String({ minLength: 40, maxLength: 400 }), fc.string()),
        fc.boolean(),
        (name, sealed, deleted) => {
          const entry = {
            name: secretEntryName(name),
            version: { hlc: { wall: 1, logical: 0 }, origin: 'n' },
            deleted,
            sealed,
          }
          const decoded = decodeDeclEntries(encodeEnvelope('decls', [entry]))
          if (!decoded.ok) return
          const store = new DeclStore(decoded.value)
          for (const held of store.sealed()) openSecret(k, held.name, held.sealed!)
          expect(store.digest()).toMatch(/^[0-9a-f]{16}$/)
        },
      ),
    )
  })

  test('a value over the limit does not fit in an entry', () => {
    const big = sealSecret(k, '@secret/big', new Uint8Array(MAX_SECRET_BYTES + 1024), new Uint8Array(12))
    const decoded = decodeDeclEntries(encodeDeclEntries([{ ...sealedEntry('big', 1), sealed: big }]))
    expect(decoded.ok).toBe(false)
  })
})

describe('secrets in a workload spec', () => {
  const spec = (secrets: unknown) => normaliseWorkload({ name: 'web', image: 'busybox', secrets })

  test('names and objects are read, with target and mode filled in', () => {
    const parsed = spec(['db', { name: 'tls', target: 'cert.pem', mode: '0400' }])
    expect(parsed.ok).toBe(true)
    if (!parsed.ok) return
    expect(parsed.workloads[0]?.secrets).toEqual([
      { name: 'db', target: 'db', mode: 0o444 },
      { name: 'tls', target: 'cert.pem', mode: 0o400 },
    ])
  })

  test('a target outside /run/secrets, or two secrets in one file, are refused', () => {
    expect(spec([{ name: 'db', target: '../etc/passwd' }]).ok).toBe(false)
    expect(
      spec([
        { name: 'db', target: 'x' },
        { name: 'tls', target: 'x' },
      ]).ok,
    ).toBe(false)
    expect(spec(['a/b']).ok).toBe(false)
  })

  test("a secret's version is part of the generation", () => {
    const base: Workload = (
      normaliseWorkload({ name: 'web', image: 'busybox', secrets: ['db'] }) as {
        workloads: Workload[]
      }
    ).workloads[0]!
    const v1 = { ...base, secrets: [{ ...base.secrets![0]!, version: '0123456789ab' }] }
    const v2 = { ...base, secrets: [{ ...base.secrets![0]!, version: 'ba9876543210' }] }
    expect(new Set([generationOf(base), generationOf(v1), generationOf(v2)]).size).toBe(3)
    const { secrets: _, ...without } = base
    const plain = (normaliseWorkload({ name: 'web', image: 'busybox' }) as { workloads: Workload[] })
      .workloads[0]!
    expect(generationOf(without)).toBe(generationOf(plain))
  })
})
