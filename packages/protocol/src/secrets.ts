import { Buffer } from 'node:buffer'
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto'
import { z } from 'zod'

/**
 * Secrets and registry logins live in the declaration store as entries holding ciphertext only:
 * `@secret/<name>` and `@registry/<host>`. The key is derived from the cluster key (HKDF-SHA256,
 * an info string of its own, so it is never the key that closes the network), the cipher is
 * AES-256-GCM with a random 96-bit nonce per write, and the entry's name is the associated data, so a
 * ciphertext moved under another name does not open. The random nonce comes in as an argument:
 * this module stays deterministic.
 */

/** Names of secret entries start with this: no workload name can (names start with a-z or 0-9). */
export const SECRET_PREFIX = '@secret/'
/** Names of registry login entries start with this. */
export const REGISTRY_PREFIX = '@registry/'

/** The largest secret value, in bytes (a sealed entry gossips to every node). */
export const MAX_SECRET_BYTES = 64 * 1024
/** The nonce's length, bytes (GCM's standard 96 bits). */
export const SECRET_NONCE_BYTES = 12
const TAG_BYTES = 16
/** Bound on a sealed value's base64 length: nonce, value and tag. */
const MAX_SEALED_CHARS = Math.ceil(((SECRET_NONCE_BYTES + MAX_SECRET_BYTES + TAG_BYTES + 512) * 4) / 3) + 4
const HKDF_INFO = 'gary/1 secrets aes-256-gcm'

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** A registry as image references name it: a host, and a port maybe. */
const REGISTRY_HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(:[0-9]{1,5})?$/

/** A secret's name: 1 to 64 of letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
export const SecretNameSchema = z
  .string()
  .regex(SECRET_NAME, "is not a secret name: use 1 to 64 of letters, digits, '.', '_' and '-'")
/** A registry's host (`ghcr.io`, `registry.example.com:5000`). */
export const RegistryHostSchema = z
  .string()
  .max(261)
  .regex(REGISTRY_HOST, 'is not a registry host (a host name, and a port maybe)')

/** A sealed value as it travels: base64 of nonce, ciphertext and tag. */
export const SealedSchema = z
  .string()
  .min(Math.ceil(((SECRET_NONCE_BYTES + TAG_BYTES) * 4) / 3))
  .max(MAX_SEALED_CHARS)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'is not base64')

export const secretEntryName = (name: string): string => `${SECRET_PREFIX}${name}`
export const registryEntryName = (host: string): string => `${REGISTRY_PREFIX}${host}`

/** The secret an entry holds, or undefined for any other entry. */
export const secretOf = (entry: { name: string }): string | undefined =>
  entry.name.startsWith(SECRET_PREFIX) ? entry.name.slice(SECRET_PREFIX.length) : undefined

/** The registry a login entry is for, or undefined for any other entry. */
export const registryOf = (entry: { name: string }): string | undefined =>
  entry.name.startsWith(REGISTRY_PREFIX) ? entry.name.slice(REGISTRY_PREFIX.length) : undefined

/** True for the names of entries that hold ciphertext. */
export const isSealedName = (name: string): boolean =>
  (name.startsWith(SECRET_PREFIX) && SECRET_NAME.test(name.slice(SECRET_PREFIX.length))) ||
  (name.startsWith(REGISTRY_PREFIX) && REGISTRY_HOST.test(name.slice(REGISTRY_PREFIX.length)))

/**
 * The key secrets are sealed under, from the cluster key's bytes: every holder of the cluster key
 * derives the same one, and nobody else can.
 */
export function deriveSecretsKey(clusterKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', clusterKey, new Uint8Array(0), HKDF_INFO, 32))
}

/** Seals `value` for the entry `entryName` under `key`; `nonce` must be 12 fresh random bytes. */
export function sealSecret(key: Uint8Array, entryName: string, value: Uint8Array, nonce: Uint8Array): string {
  if (nonce.length !== SECRET_NONCE_BYTES) throw new RangeError('a nonce is 12 bytes')
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(Buffer.from(entryName, 'utf8'))
  const body = Buffer.concat([cipher.update(value), cipher.final()])
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')
}

/**
 * The value sealed for `entryName`, or undefined when it does not open (another key, another
 * name, a changed byte, not a sealed value at all). Never throws.
 */
export function openSecret(key: Uint8Array, entryName: string, sealed: string): Uint8Array | undefined {
  try {
    if (!SealedSchema.safeParse(sealed).success) return undefined
    const bytes = Buffer.from(sealed, 'base64')
    if (bytes.length < SECRET_NONCE_BYTES + TAG_BYTES) return undefined
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, SECRET_NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    })
    decipher.setAAD(Buffer.from(entryName, 'utf8'))
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    const value = Buffer.concat([
      decipher.update(bytes.subarray(SECRET_NONCE_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ])
    return new Uint8Array(value)
  } catch {
    return undefined
  }
}

/**
 * A secret's version as workloads name it: 12 hex digits over its sealed value. Each write seals
 * with a fresh nonce, so each write is a new version; it says nothing of the value.
 */
export const secretVersion = (sealed: string): string =>
  createHash('sha256').update(sealed).digest('hex').slice(0, 12)

/** A registry login as it is sealed. */
export interface RegistryLogin {
  username: string
  password: string
}

const RegistryLoginSchema = z.strictObject({
  username: z.string().min(1).max(1024),
  password: z.string().max(MAX_SECRET_BYTES / 2),
})

export const encodeRegistryLogin = (login: RegistryLogin): Uint8Array =>
  new Uint8Array(Buffer.from(JSON.stringify({ username: login.username, password: login.password })))

/** The login a sealed registry entry held, or undefined when it is not one. Never throws. */
export function decodeRegistryLogin(bytes: Uint8Array): RegistryLogin | undefined {
  try {
    const parsed = RegistryLoginSchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}
