import { createHash } from 'node:crypto'
import { z } from 'zod'
import { canonicalJson } from './canonical.js'
import { type Decoded, decodeEnvelope, encodeEnvelope } from './envelope.js'
import { hlcCompare } from './hlc.js'
import { type Hlc, HlcSchema } from './node-state.js'
import { generationSince, MAX_CAUSE, MAX_HISTORY, MAX_ROLLBACK_REASON } from './revisions.js'
import { isSealedName, SealedSchema } from './secrets.js'
import { type Workload, WorkloadNameSchema, WorkloadSchema } from './spec.js'

/** Who wrote a declaration, and when: larger versions win. */
export interface DeclVersion {
  hlc: Hlc
  /** Peer id of the node that wrote it. */
  origin: string
}

/**
 * One name in the declaration store: a workload, or a tombstone that says it was deleted; or,
 * under a name `markName(mark, node)`, a mark on a member (a tombstone there lifts it).
 */
export interface DeclEntry {
  name: string
  version: DeclVersion
  deleted: boolean
  /** Absent if and only if `deleted`, a member mark, or a secret. */
  workload?: Workload
  /** Which revision `workload` is: 1 for a name's first apply, one more per write (absent: 1). */
  revision?: number
  /** Why it was written, when not by a plain apply: `scale 5`, `restart`, `rollback to 2`. */
  cause?: string
  /**
   * Present when this value undoes a failed rollout: the write it undoes. Such an entry beats
   * that write alone, never a later one (`compareEntries`).
   */
  rollback?: RollbackMark
  /** Earlier revisions, newest first (`revisions.ts`), each as what differs from the next newer one. */
  history?: RevisionRecord[]
  /**
   * Under a secret's or a registry login's name (`secrets.ts`), and only there: its value,
   * sealed under the key derived from the cluster key. Absent in a tombstone.
   */
  sealed?: string
}

/** What an automatic rollback undid, and why. */
export interface RollbackMark {
  /** The version of the write undone. */
  of: DeclVersion
  /** Its revision. */
  revision: number
  /** Why its rollout failed, in one sentence. */
  reason: string
}

/**
 * An earlier revision, as what differs from the next newer one: `set` holds the top-level fields
 * whose values differed, `unset` the fields it lacked.
 */
export interface RevisionRecord {
  revision: number
  version: DeclVersion
  cause?: string
  rollback?: RollbackMark
  set?: Record<string, unknown>
  unset?: string[]
}

/**
 * Marks an operator sets on a member, each an entry under its own name prefix (no workload name
 * can start with `@`: names start with a-z or 0-9): a ban (every node drops the member), a drain
 * (the member hands its slots over, as it promises of itself when it reads its own mark).
 */
export type MemberMark = 'ban' | 'drain'

const MARK_PREFIXES: Record<MemberMark, string> = { ban: '@ban/', drain: '@drain/' }

/** The store name of a mark on a member. */
export const markName = (mark: MemberMark, node: string): string => `${MARK_PREFIXES[mark]}${node}`

/** The store name of the ban of a member. */
export const banName = (node: string): string => markName('ban', node)

/** The mark an entry sets and the member it names, or undefined for a workload's entry. */
export function markOf(entry: Pick<DeclEntry, 'name'>): { mark: MemberMark; node: string } | undefined {
  for (const mark of Object.keys(MARK_PREFIXES) as MemberMark[])
    if (entry.name.startsWith(MARK_PREFIXES[mark]))
      return { mark, node: entry.name.slice(MARK_PREFIXES[mark].length) }
  return undefined
}

/** The member a ban entry names, or undefined for any other entry. */
export const bannedBy = (entry: Pick<DeclEntry, 'name'>): string | undefined => {
  const marked = markOf(entry)
  return marked?.mark === 'ban' ? marked.node : undefined
}

/**
 * Why an entry from the network is not taken, or undefined if it is: members banned in the store
 * write nothing, and no member lifts its own ban.
 */
export function refusal(entry: DeclEntry, banned: ReadonlySet<string>): string | undefined {
  if (banned.has(entry.version.origin)) return 'written by a banned member'
  if (entry.deleted && bannedBy(entry) === entry.version.origin) return 'a member lifting its own ban'
  return undefined
}

const SealedNameSchema = z.string().max(300).refine(isSealedName, 'is not a secret name')

const MarkNameSchema = z
  .string()
  .max(Math.max(...Object.values(MARK_PREFIXES).map((prefix) => prefix.length)) + 128)
  .refine((name) => (markOf({ name })?.node ?? '') !== '', 'is not a member mark')

export const DeclVersionSchema = z.strictObject({ hlc: HlcSchema, origin: z.string().min(1).max(128) })

const revisionNumber = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)

const RollbackMarkSchema = z.strictObject({
  of: DeclVersionSchema,
  revision: revisionNumber,
  reason: z.string().max(MAX_ROLLBACK_REASON),
})

/** The workload's top-level fields: what a history record may set or unset. */
const WORKLOAD_FIELDS = [
  'name',
  'image',
  'command',
  'args',
  'env',
  'mode',
  'replicas',
  'resources',
  'ports',
  'constraints',
  'restart',
  'health',
  'update',
  'labels',
  'redeploy',
  'secrets',
] as const
const workloadField = z.enum(WORKLOAD_FIELDS)

/**
 * A history record's shape. What it rebuilds is checked where it is read (`revisionsOf`), so a
 * record that does not rebuild into a valid workload is never used.
 */
const RevisionRecordSchema = z.strictObject({
  revision: revisionNumber,
  version: DeclVersionSchema,
  cause: z.string().max(MAX_CAUSE).optional(),
  rollback: RollbackMarkSchema.optional(),
  set: z
    .partialRecord(workloadField, z.unknown())
    .refine((set) => !Object.hasOwn(set, 'name'), 'must not change the name')
    .optional(),
  unset: z.array(workloadField).max(WORKLOAD_FIELDS.length).optional(),
})

/** A declaration entry from the network. Strict: a tombstone carries no workload, a live entry its own. */
export const DeclEntrySchema: z.ZodType<DeclEntry> = z
  .strictObject({
    name: z.union([MarkNameSchema, SealedNameSchema, WorkloadNameSchema]),
    version: DeclVersionSchema,
    deleted: z.boolean(),
    workload: WorkloadSchema.optional(),
    revision: revisionNumber.optional(),
    cause: z.string().max(MAX_CAUSE).optional(),
    rollback: RollbackMarkSchema.optional(),
    history: z.array(RevisionRecordSchema).max(MAX_HISTORY).optional(),
    sealed: SealedSchema.optional(),
  })
  .superRefine((entry, ctx) => {
    const mark = markOf(entry) !== undefined
    const sealedName = isSealedName(entry.name)
    if (
      sealedName &&
      (entry.revision ?? entry.cause ?? entry.rollback ?? entry.history ?? entry.workload) !== undefined
    )
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'a secret keeps no workload or revisions' })
    if (sealedName && entry.deleted === (entry.sealed !== undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['sealed'],
        message: 'is required in a secret, and absent in its tombstone',
      })
    if (!sealedName && entry.sealed !== undefined)
      ctx.addIssue({ code: 'custom', path: ['sealed'], message: 'is only for secrets' })
    if (entry.deleted && (entry.history !== undefined || entry.rollback !== undefined))
      ctx.addIssue({ code: 'custom', path: ['history'], message: 'a tombstone keeps no revisions' })
    // An undo names an earlier write: bounded by its own version, which the clock bound bounds.
    if (entry.rollback !== undefined && compareDeclVersions(entry.rollback.of, entry.version) >= 0)
      ctx.addIssue({ code: 'custom', path: ['rollback', 'of'], message: 'must be older than the entry' })
    let newer = entry.revision ?? 1
    entry.history?.forEach((record, index) => {
      if (record.revision >= newer)
        ctx.addIssue({ code: 'custom', path: ['history', index, 'revision'], message: 'must decrease' })
      newer = record.revision
    })
    if (mark && (entry.revision ?? entry.cause ?? entry.rollback ?? entry.history) !== undefined)
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'a member mark keeps no revisions' })
    if ((entry.deleted || mark) && entry.workload !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['workload'],
        message: 'must be absent in a tombstone or a member mark',
      })
    }
    if (!entry.deleted && !mark && !sealedName && entry.workload === undefined) {
      ctx.addIssue({ code: 'custom', path: ['workload'], message: 'is required unless deleted' })
    }
    if (entry.workload !== undefined && entry.workload.name !== entry.name) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'does not match workload.name' })
    }
  })

/**
 * The order in which entries for one name win (larger wins): by the write they stand for (an
 * undo stands for the write it undoes, `rollback.of`), then an undo over the write itself, then
 * by version. So an automatic rollback beats the failed write and nothing written after it: an
 * apply or `rm` made later, on either side of a partition, wins whatever the rollback's clock.
 * A total order, so merging stays commutative, associative and idempotent.
 */
export function compareEntries(a: DeclEntry, b: DeclEntry): number {
  const base = compareDeclVersions(a.rollback?.of ?? a.version, b.rollback?.of ?? b.version)
  if (base !== 0) return base
  const undo = Number(a.rollback !== undefined) - Number(b.rollback !== undefined)
  if (undo !== 0) return undo
  return compareDeclVersions(a.version, b.version)
}

/** A total order on versions: the hybrid logical clock first, then the origin's peer id. */
export function compareDeclVersions(a: DeclVersion, b: DeclVersion): number {
  const byClock = hlcCompare(a.hlc, b.hlc)
  if (byClock !== 0) return byClock
  if (a.origin === b.origin) return 0
  return a.origin < b.origin ? -1 : 1
}

/**
 * What a merge did. `created`, `updated` and `deleted` changed the store (and its digest);
 * `unchanged` (the same version was already there) and `stale` (an older one) did not.
 */
export type MergeOutcome = 'created' | 'updated' | 'deleted' | 'unchanged' | 'stale'

/** Tombstones are kept a week by default: long enough to outlive any partition we expect to heal. */
export const DEFAULT_TOMBSTONE_KEEP_MS = 7 * 24 * 3600 * 1000

/**
 * The declarations as one node knows them: a map from workload name to a last-writer-wins
 * register, where deletions are tombstones. Merging is commutative, associative and idempotent,
 * so nodes that have received the same entries, in any order and any number of times, hold the
 * same store and the same digest. Entries are treated as immutable values.
 */
export class DeclStore {
  readonly #entries = new Map<string, DeclEntry>()
  #digest: string | undefined

  constructor(entries: Iterable<DeclEntry> = []) {
    for (const entry of entries) this.merge(entry)
  }

  /** The entry for a name, tombstone included. */
  get(name: string): DeclEntry | undefined {
    return this.#entries.get(name)
  }

  /** The declared workloads (no tombstones), sorted by name. */
  live(): Workload[] {
    return this.entries().flatMap((entry) => (entry.workload === undefined ? [] : [entry.workload]))
  }

  /** Live secrets and registry logins (`secrets.ts`), sorted by entry name. */
  sealed(): DeclEntry[] {
    return this.entries().filter((entry) => entry.sealed !== undefined)
  }

  /** The members banned now (ban entries that are not lifted), sorted. */
  banned(): string[] {
    return this.marked('ban')
  }

  /** The members that carry `mark` now (its entries that are not lifted), sorted. */
  marked(mark: MemberMark): string[] {
    return this.entries().flatMap((entry) => {
      const marked = markOf(entry)
      return marked?.mark === mark && !entry.deleted ? [marked.node] : []
    })
  }

  /** When each live workload's current generation was first declared, where its entry says. */
  generationTimes(): Map<string, Hlc> {
    const times = new Map<string, Hlc>()
    for (const entry of this.#entries.values())
      if (entry.workload !== undefined) {
        const since = generationSince(entry)
        if (since !== undefined) times.set(entry.name, since)
      }
    return times
  }

  /** Every entry, tombstones and member marks included, sorted by name. */
  entries(): DeclEntry[] {
    return [...this.#entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /** Keeps the larger version for the entry's name. */
  merge(entry: DeclEntry): MergeOutcome {
    const incoming = copyEntry(entry)
    const current = this.#entries.get(incoming.name)
    if (current !== undefined) {
      const order = compareEntries(incoming, current)
      if (order < 0) return 'stale'
      // One origin never writes two values at one version; if a faulty or hostile peer does, keep
      // the larger value anyway, so that every node still ends up with the same one.
      if (order === 0 && canonicalJson(incoming) <= canonicalJson(current)) return 'unchanged'
    }
    this.#entries.set(incoming.name, incoming)
    this.#digest = undefined
    if (incoming.deleted) return 'deleted'
    return current === undefined || current.deleted ? 'created' : 'updated'
  }

  /**
   * 16 hex digits over the name, version and deleted flag of every entry, tombstones included.
   * Nodes compare digests to find out cheaply whether their stores differ (anti-entropy).
   */
  digest(): string {
    if (this.#digest === undefined) {
      const summary = this.entries().map((entry) => [
        entry.name,
        entry.version.hlc.wall,
        entry.version.hlc.logical,
        entry.version.origin,
        entry.deleted,
      ])
      this.#digest = createHash('sha256').update(canonicalJson(summary)).digest('hex').slice(0, 16)
    }
    return this.#digest
  }

  /**
   * Forgets tombstones written more than `keepMs` before `nowWallMs` (both wall-clock
   * milliseconds, compared with the tombstone's HLC wall time) and returns their names, sorted.
   * A write older than a forgotten tombstone that arrives later would bring the workload back,
   * so `keepMs` must outlast any partition and any node's absence.
   */
  collectTombstones(nowWallMs: number, keepMs: number): string[] {
    const cutoff = nowWallMs - keepMs
    const removed: string[] = []
    for (const entry of this.entries()) {
      if (entry.deleted && entry.version.hlc.wall < cutoff) {
        this.#entries.delete(entry.name)
        removed.push(entry.name)
      }
    }
    if (removed.length > 0) this.#digest = undefined
    return removed
  }
}

/** The entry in one shape (a tombstone has no `workload` key), its version copied; the rest is shared. */
function copyEntry(entry: DeclEntry): DeclEntry {
  const copy: DeclEntry = {
    name: entry.name,
    version: {
      hlc: { wall: entry.version.hlc.wall, logical: entry.version.hlc.logical },
      origin: entry.version.origin,
    },
    deleted: entry.deleted,
  }
  if (!entry.deleted && entry.workload !== undefined) {
    copy.workload = entry.workload
    if (entry.revision !== undefined) copy.revision = entry.revision
    if (entry.cause !== undefined) copy.cause = entry.cause
    if (entry.rollback !== undefined) copy.rollback = entry.rollback
    if (entry.history !== undefined) copy.history = entry.history
  }
  if (!entry.deleted && entry.sealed !== undefined) copy.sealed = entry.sealed
  return copy
}

/** Largest declarations message accepted from the network, in bytes. */
export const MAX_DECL_MESSAGE_BYTES = 4 * 1024 * 1024
/** Most entries one declarations message may carry. */
export const MAX_DECL_ENTRIES = 10_000

const DeclEntriesSchema = z.array(DeclEntrySchema).max(MAX_DECL_ENTRIES)

export const encodeDeclEntries = (entries: DeclEntry[]): Uint8Array => encodeEnvelope('decls', entries)

/** Decodes a declarations message; never throws: anything invalid comes back as a reason. */
export const decodeDeclEntries = (bytes: Uint8Array): Decoded<DeclEntry[]> =>
  decodeEnvelope(bytes, 'decls', DeclEntriesSchema, MAX_DECL_MESSAGE_BYTES)
