import { copyFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { type DeclEntry, DeclEntrySchema, DeclStore, formatIssues } from '@gary/protocol'
import { FileTooLargeError, readFileBounded } from '../data-dir/bounded-read.js'
import { GroupCommit, removeStaleTemporaries, writeFileDurable } from '../data-dir/durable-file.js'
import { type Logger, swallowed } from '../logger.js'

const FILE = 'declarations.json'
/** A declarations file larger than this is not one a cluster can hold (a sync carries 4 MiB). */
const MAX_FILE_BYTES = 64 * 1024 * 1024

export interface StoreFileComponents {
  logger: Logger
  /** The store as it is now; a save writes it with the staged entries merged in. */
  store: () => DeclStore
  /**
   * Staged entries are on disk: merge them into the store now, before the next write reads it
   * (a caller that merged after `save` resolved raced the next write, which left them out).
   */
  durable: (entries: DeclEntry[]) => void
  wallNow: () => number
}

/**
 * `declarations.json` in the data dir: the store as this node last made it durable. Writes are
 * acknowledged only once on disk (see writeFileDurable), and writes asked for while one is under
 * way share the next one. A write's entries reach the file before the store: they are merged
 * into the store (`durable`) once on disk, so a write the disk refused is nowhere.
 */
export class StoreFile {
  readonly path: string
  readonly #commit: GroupCommit<DeclEntry>

  constructor(
    readonly dataDir: string,
    private readonly components: StoreFileComponents,
  ) {
    this.path = join(dataDir, FILE)
    this.#commit = new GroupCommit((staged) => this.#write(staged))
  }

  /** Writes the store with `staged` merged in; resolves once it is on disk. Rejects with DataDirWriteError. */
  save(staged: DeclEntry[] = []): Promise<void> {
    return this.#commit.commit(staged)
  }

  /** Resolves once the writes asked for so far have ended. */
  idle(): Promise<void> {
    return this.#commit.idle()
  }

  /**
   * The entries of the file, each checked on its own: an entry that fails the checks is left out
   * and reported, the others are kept (one bad entry used to cost the whole set). A file that is
   * not a declarations file at all is moved aside for a person to look at; peers give the node
   * the set back by anti-entropy. `repaired` says entries were left out: the caller saves again.
   */
  async load(): Promise<{ entries: DeclEntry[]; repaired: boolean }> {
    const { logger } = this.components
    const stale = await removeStaleTemporaries(this.dataDir)
    if (stale.length > 0) logger.info({ files: stale }, 'removed temporary files an earlier run left')
    let text: string
    try {
      text = (await readFileBounded(this.path, MAX_FILE_BYTES)).toString('utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], repaired: false }
      if (!(err instanceof FileTooLargeError)) throw err
      await this.#moveAside(`it is over ${MAX_FILE_BYTES} bytes`)
      return { entries: [], repaired: false }
    }
    let raw: unknown
    try {
      raw = (JSON.parse(text) as { entries?: unknown } | null)?.entries
    } catch {
      raw = undefined
    }
    if (!Array.isArray(raw)) {
      await this.#moveAside('it is not JSON with a list of entries')
      return { entries: [], repaired: false }
    }
    const entries: DeclEntry[] = []
    const refused: { name?: string; reason: string }[] = []
    for (const item of raw as unknown[]) {
      const checked = DeclEntrySchema.safeParse(item)
      if (checked.success) entries.push(checked.data)
      else refused.push({ name: nameOf(item), reason: formatIssues(checked.error.issues).slice(0, 300) })
    }
    if (refused.length > 0) {
      const copy = `${this.path}.refused-${this.components.wallNow()}`
      await copyFile(this.path, copy).catch(
        swallowed(logger, 'cannot copy the declarations file aside', { copy }),
      )
      logger.warn(
        {
          path: this.path,
          refused: refused.length,
          kept: entries.length,
          first: refused[0],
          copiedTo: copy,
        },
        'declarations file: left out the entries that fail the checks, kept the rest',
      )
    }
    return { entries, repaired: refused.length > 0 }
  }

  async #write(staged: DeclEntry[]): Promise<void> {
    const store = this.components.store()
    const entries =
      staged.length === 0 ? store.entries() : new DeclStore([...store.entries(), ...staged]).entries()
    await writeFileDurable(this.path, JSON.stringify({ version: 1, entries }))
    if (staged.length > 0) this.components.durable(staged)
  }

  async #moveAside(why: string): Promise<void> {
    const aside = `${this.path}.unreadable-${this.components.wallNow()}`
    await rename(this.path, aside)
    this.components.logger.error(
      { path: this.path, movedTo: aside, why },
      'declarations file is unreadable: moved aside, starting empty',
    )
  }
}

function nameOf(item: unknown): string | undefined {
  const name = (item as { name?: unknown } | null)?.name
  return typeof name === 'string' ? name.slice(0, 100) : undefined
}
