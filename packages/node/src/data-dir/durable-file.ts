import { open, readdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { DataDirWriteError } from '../errors.js'

/** Temporary files are named `<file>.<pid>.tmp`: a crash can leave one behind, nothing else. */
const TEMPORARY = /^.+\.\d+\.tmp$/

/**
 * Writes a file so that once this resolves the new content survives a crash or a power loss,
 * and a crash before leaves the old content: write a temporary file, flush it to the disk,
 * rename it over the file, flush the directory (the rename is only durable once the directory
 * is). On failure the temporary file is removed and a DataDirWriteError says why in a sentence.
 */
export async function writeFileDurable(path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`
  try {
    const file = await open(temporary, 'w', mode)
    try {
      await file.writeFile(data)
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(temporary, path)
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => {})
    throw writeError(path, err as NodeJS.ErrnoException)
  }
  try {
    await syncDirectory(dirname(path))
  } catch (err) {
    throw writeError(path, err as NodeJS.ErrnoException)
  }
}

/** Removes the temporary files a crash left in a directory; returns their names. */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const stale = names.filter((name) => TEMPORARY.test(name))
  await Promise.all(stale.map((name) => rm(join(dir, name), { force: true }).catch(() => {})))
  return stale
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** One sentence for the ways a data dir refuses a write. */
export function writeError(path: string, err: NodeJS.ErrnoException): DataDirWriteError {
  const where = `${basename(path)} in ${dirname(path)}`
  const why: Record<string, string> = {
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is used up',
    EROFS: 'the file system is read-only',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EIO: 'the disk reported an I/O error',
    ENOENT: 'the directory does not exist',
    ENOTDIR: 'a part of the path is not a directory',
  }
  const reason = (err.code !== undefined && why[err.code]) || err.message
  return new DataDirWriteError(`cannot save ${where}: ${reason} (${err.code ?? 'error'})`, err.code)
}

/**
 * Runs a write for many callers at once: callers that arrive while a write is under way share
 * the next one, so N concurrent callers cost at most two writes, and each caller resolves only
 * once a write that began after it arrived has finished (or rejects with that write's error).
 * `write` is given every caller's payload in the batch.
 */
export class GroupCommit<T> {
  #running = false
  #draining: Promise<void> = Promise.resolve()
  #next?: { items: T[]; waiters: { resolve: () => void; reject: (err: Error) => void }[] }

  constructor(private readonly write: (items: T[]) => Promise<void>) {}

  commit(items: T[] = []): Promise<void> {
    this.#next ??= { items: [], waiters: [] }
    const batch = this.#next
    for (const item of items) batch.items.push(item)
    const done = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }))
    if (!this.#running) this.#draining = this.#drain()
    return done
  }

  /** Resolves once every write asked for so far has ended, whatever its outcome. */
  idle(): Promise<void> {
    return this.#draining
  }

  async #drain(): Promise<void> {
    this.#running = true
    try {
      for (let batch = this.#next; batch !== undefined; batch = this.#next) {
        this.#next = undefined
        try {
          await this.write(batch.items)
          for (const waiter of batch.waiters) waiter.resolve()
        } catch (err) {
          for (const waiter of batch.waiters) waiter.reject(err as Error)
        }
      }
    } finally {
      this.#running = false
    }
  }
}
