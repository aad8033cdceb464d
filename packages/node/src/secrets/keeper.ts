import { randomBytes, timingSafeEqual } from 'node:crypto'
import {
  appliedEntry,
  type DeclEntry,
  type DeclStore,
  type DeclVersion,
  decodeRegistryLogin,
  encodeRegistryLogin,
  MAX_SECRET_BYTES,
  openSecret,
  registryEntryName,
  registryOf,
  SECRET_NONCE_BYTES,
  sealSecret,
  secretEntryName,
  secretOf,
  secretVersion,
  type Workload,
} from '@gary/protocol'
import { type RegistryAuth, registryOfImage } from '@gary/runtime'
import { UserError } from '../errors.js'

/** Secrets need a cluster key: without one there is nothing to seal them under. */
export class SecretsNeedClusterKeyError extends UserError {
  override name = 'SecretsNeedClusterKeyError'
  constructor() {
    super(
      'this cluster has no cluster key, so it keeps no secrets: start every daemon with --cluster-key (gary keygen makes one)',
    )
  }
}

/** A secret cannot be removed while a workload reads it. */
export class SecretInUseError extends UserError {
  override name = 'SecretInUseError'
}

/** A secret's value is too large to gossip. */
export class SecretTooLargeError extends UserError {
  override name = 'SecretTooLargeError'
}

/** One row of `gary secret ls`: never the value. */
export interface SecretRow {
  name: string
  /** `secret`, or `registry` for a `gary login`. */
  kind: 'secret' | 'registry'
  version: string
  /** ISO time of the write. */
  updated: string
  /** Workloads that read it. */
  usedBy: string[]
}

export interface SecretKeeperComponents {
  /** The declarations: where sealed entries live, and how writes are made durable and spread. */
  declarations: {
    store: DeclStore
    update(
      names: string[],
      build: (current: DeclEntry | undefined, version: DeclVersion) => DeclEntry | undefined,
    ): Promise<DeclEntry[]>
  }
  /** Fresh random bytes for nonces; default node:crypto's. */
  random?: (bytes: number) => Uint8Array
}

/**
 * The cluster's secrets and registry logins on this node: seals what the API gives (the value
 * never reaches the disk, a log or an answer in clear), opens what containers and pulls need, and
 * rolls the workloads that read a secret when it changes (their specs name its version).
 */
export class SecretKeeper {
  readonly #key: Uint8Array | undefined
  readonly #random: (bytes: number) => Uint8Array

  constructor(
    /** The key derived from the cluster key (`deriveSecretsKey`); none in an open cluster. */
    key: Uint8Array | undefined,
    private readonly components: SecretKeeperComponents,
  ) {
    this.#key = key
    this.#random = components.random ?? ((bytes) => new Uint8Array(randomBytes(bytes)))
  }

  /** False in a cluster without a cluster key. */
  get enabled(): boolean {
    return this.#key !== undefined
  }

  /**
   * Creates or changes a secret; the workloads that read it are written again with its new
   * version (a rolling update), in the same durable write. `unchanged`: it held this value.
   */
  async put(
    name: string,
    value: Uint8Array,
  ): Promise<{ outcome: 'created' | 'updated' | 'unchanged'; rolled: string[] }> {
    const key = this.#needKey()
    if (value.length > MAX_SECRET_BYTES)
      throw new SecretTooLargeError(
        `a secret holds at most ${MAX_SECRET_BYTES} bytes; this one has ${value.length}`,
      )
    const entryName = secretEntryName(name)
    const current = this.#live(entryName)
    const held = current === undefined ? undefined : openSecret(key, entryName, current.sealed!)
    if (held !== undefined && held.length === value.length && timingSafeEqual(held, value))
      return { outcome: 'unchanged', rolled: [] }
    const sealed = sealSecret(key, entryName, value, this.#random(SECRET_NONCE_BYTES))
    const version = secretVersion(sealed)
    const readers = this.#readers(name)
    // The secret's entry (no workload in it) and its readers' entries, in one durable write.
    const written = await this.components.declarations.update([entryName, ...readers], (entry, at) =>
      entry?.workload === undefined
        ? { name: entryName, version: at, deleted: false, sealed }
        : appliedEntry(entry, withVersion(entry.workload, name, version), at, `secret ${name} changed`),
    )
    return {
      outcome: current === undefined ? 'created' : 'updated',
      rolled: written.flatMap((entry) => (entry.workload === undefined ? [] : [entry.name])),
    }
  }

  /** Removes a secret; refused while a workload reads it. */
  async remove(name: string): Promise<'deleted' | 'not found'> {
    const entryName = secretEntryName(name)
    if (this.#live(entryName) === undefined) return 'not found'
    const readers = this.#readers(name)
    if (readers.length > 0)
      throw new SecretInUseError(
        `secret ${name} is read by ${readers.join(', ')}: take it out of their specs (gary apply) first`,
      )
    await this.components.declarations.update([entryName], (_, version) => ({
      name: entryName,
      version,
      deleted: true,
    }))
    return 'deleted'
  }

  /** Stores the login for a registry, sealed as a secret is; later pulls from it use it. */
  async login(
    registry: string,
    username: string,
    password: string,
  ): Promise<'created' | 'updated' | 'unchanged'> {
    const key = this.#needKey()
    const entryName = registryEntryName(registry)
    const value = encodeRegistryLogin({ username, password })
    const current = this.#live(entryName)
    const held = current === undefined ? undefined : openSecret(key, entryName, current.sealed!)
    if (held !== undefined && Buffer.from(held).equals(Buffer.from(value))) return 'unchanged'
    const sealed = sealSecret(key, entryName, value, this.#random(SECRET_NONCE_BYTES))
    await this.components.declarations.update([entryName], (_, version) => ({
      name: entryName,
      version,
      deleted: false,
      sealed,
    }))
    return current === undefined ? 'created' : 'updated'
  }

  /** Forgets the login for a registry. */
  async logout(registry: string): Promise<'deleted' | 'not found'> {
    const entryName = registryEntryName(registry)
    if (this.#live(entryName) === undefined) return 'not found'
    await this.components.declarations.update([entryName], (_, version) => ({
      name: entryName,
      version,
      deleted: true,
    }))
    return 'deleted'
  }

  /** Secrets and logins, without their values. */
  list(iso: (wall: number) => string): SecretRow[] {
    return this.components.declarations.store.sealed().map((entry) => {
      const name = secretOf(entry) ?? registryOf(entry) ?? entry.name
      const kind = secretOf(entry) !== undefined ? 'secret' : 'registry'
      return {
        name,
        kind,
        version: secretVersion(entry.sealed!),
        updated: iso(entry.version.hlc.wall),
        usedBy: kind === 'secret' ? this.#readers(name) : [],
      }
    })
  }

  /** The workload with each secret's current version filled in (absent: the secret does not exist). */
  stamp(workload: Workload): Workload {
    if (workload.secrets === undefined) return workload
    return {
      ...workload,
      secrets: workload.secrets.map(({ version: _, ...secret }) => {
        const entry = this.#live(secretEntryName(secret.name))
        return entry === undefined ? secret : { ...secret, version: secretVersion(entry.sealed!) }
      }),
    }
  }

  /** A secret's value, or why it cannot be had, in one sentence that never holds the value. */
  open(name: string): Uint8Array | string {
    if (this.#key === undefined) return 'this cluster has no cluster key, so it keeps no secrets'
    const entryName = secretEntryName(name)
    const entry = this.#live(entryName)
    if (entry === undefined)
      return `secret ${name} does not exist: create it with gary secret create ${name} -f FILE`
    return (
      openSecret(this.#key, entryName, entry.sealed!) ??
      `secret ${name} does not open with this node's cluster key`
    )
  }

  /** The cluster's login for the registry an image is pulled from, if it holds one that opens. */
  registryAuth(image: string): RegistryAuth | undefined {
    if (this.#key === undefined) return undefined
    const registry = registryOfImage(image)
    const entryName = registryEntryName(registry)
    const entry = this.#live(entryName)
    if (entry === undefined) return undefined
    const bytes = openSecret(this.#key, entryName, entry.sealed!)
    const login = bytes === undefined ? undefined : decodeRegistryLogin(bytes)
    return login === undefined ? undefined : { ...login, serveraddress: registry }
  }

  #needKey(): Uint8Array {
    if (this.#key === undefined) throw new SecretsNeedClusterKeyError()
    return this.#key
  }

  #live(entryName: string): DeclEntry | undefined {
    const entry = this.components.declarations.store.get(entryName)
    return entry?.sealed === undefined ? undefined : entry
  }

  /** The live workloads that read the secret `name`. */
  #readers(name: string): string[] {
    return this.components.declarations.store
      .live()
      .filter((workload) => workload.secrets?.some((secret) => secret.name === name) === true)
      .map((workload) => workload.name)
  }
}

/** The workload with the secret `name` at `version`. */
function withVersion(workload: Workload, name: string, version: string): Workload {
  return {
    ...workload,
    secrets: workload.secrets!.map((secret) => (secret.name === name ? { ...secret, version } : secret)),
  }
}
