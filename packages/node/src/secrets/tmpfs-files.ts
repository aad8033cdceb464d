import { chmod, mkdir, readdir, rm, rmdir, statfs, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Workload } from '@gary/protocol'
import type { Logger } from '../logger.js'
import { SECRETS_MOUNT, type SecretFiles, SecretUnavailableError } from '../reconcile/secret-files.js'

/** statfs(2)'s type of a tmpfs (linux/magic.h). */
const TMPFS_MAGIC = 0x01021994
/** A container name as Gary makes them: nothing that walks out of the directory. */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/

export interface TmpfsSecretFilesComponents {
  /** A secret's value, or the sentence that says why it cannot be had. */
  open(name: string): Uint8Array | string
  logger: Logger
}

/**
 * Secrets as files on a tmpfs, one directory per container, each file bound read-only at
 * `/run/secrets/<target>`: the value lives in memory (the kernel's page cache of the tmpfs),
 * never on the node's disk, never in the container's configuration. Anything else than a tmpfs
 * is refused: a directory on disk would keep the values after the node stopped.
 */
export class TmpfsSecretFiles implements SecretFiles {
  #unfit: string | undefined = 'the secrets directory is not ready'

  constructor(
    readonly dir: string,
    private readonly components: TmpfsSecretFilesComponents,
  ) {}

  /** Makes the directory and checks it is on a tmpfs; a node whose directory is not delivers no secrets. */
  async start(): Promise<void> {
    if (this.dir.includes(':')) {
      // The engine's bind syntax is SOURCE:TARGET:ro.
      this.#unfit = `${this.dir} has a ':', which the engine's binds cannot name: give --secrets-dir another directory`
      this.components.logger.warn({ dir: this.dir, reason: this.#unfit }, 'no secrets here')
      return
    }
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      await chmod(this.dir, 0o700)
      const fs = await statfs(this.dir)
      this.#unfit =
        Number(fs.type) === TMPFS_MAGIC
          ? undefined
          : `${this.dir} is not on a tmpfs, and secrets are kept in memory only: give --secrets-dir a directory on one (such as /dev/shm or /run)`
    } catch (err) {
      this.#unfit = `cannot use ${this.dir} for secrets: ${(err as Error).message}`
    }
    if (this.#unfit !== undefined)
      this.components.logger.warn({ dir: this.dir, reason: this.#unfit }, 'no secrets here')
    // Made again by the first write: a node that runs no secret leaves nothing behind.
    await this.stop()
  }

  /** Removes the node's directory if no container's files are left in it. */
  async stop(): Promise<void> {
    await rmdir(this.dir).catch(() => {})
  }

  async write(workload: Workload, container: string): Promise<{ source: string; target: string }[]> {
    if (this.#unfit !== undefined) throw new SecretUnavailableError(this.#unfit)
    const secrets = workload.secrets ?? []
    // Every value first: a missing one writes nothing.
    const values = secrets.map((secret) => {
      const value = this.components.open(secret.name)
      if (typeof value === 'string') throw new SecretUnavailableError(value)
      return value
    })
    const dir = this.#dirOf(container)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    return Promise.all(
      secrets.map(async (secret, index) => {
        const source = join(dir, secret.target)
        await writeFile(source, values[index]!, { mode: secret.mode })
        // writeFile's mode goes through the umask, and is not applied to a file that exists.
        await chmod(source, secret.mode)
        return { source, target: `${SECRETS_MOUNT}/${secret.target}` }
      }),
    )
  }

  async release(container: string): Promise<void> {
    if (!CONTAINER_NAME.test(container)) return
    await rm(join(this.dir, container), { recursive: true, force: true }).catch((err: Error) =>
      this.components.logger.warn(
        { container, err: err.message },
        'cannot remove the secrets of a container',
      ),
    )
  }

  /** Removes the files of every container not named in `keep` (those an earlier run left). */
  async sweep(keep: ReadonlySet<string>): Promise<void> {
    if (this.#unfit !== undefined) return
    const names = await readdir(this.dir).catch(() => [] as string[])
    await Promise.all(names.filter((name) => !keep.has(name)).map((name) => this.release(name)))
  }

  #dirOf(container: string): string {
    if (!CONTAINER_NAME.test(container)) throw new SecretUnavailableError(`${container} is no container name`)
    return join(this.dir, container)
  }
}
