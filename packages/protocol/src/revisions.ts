import { canonicalJson } from './canonical.js'
import type { DeclEntry, DeclVersion, RevisionRecord, RollbackMark } from './decl-store.js'
import type { Hlc } from './node-state.js'
import { generationOf, MAX_REDEPLOY, MAX_REPLICAS, type Workload, WorkloadSchema } from './spec.js'

/** Earlier revisions a declaration keeps. */
export const MAX_HISTORY = 10
/**
 * Bytes of JSON the earlier revisions of one declaration may take: the whole set travels in one
 * sync message, so history must not multiply its size. The previous revision is always kept.
 */
export const MAX_HISTORY_BYTES = 16 * 1024
/** Longest reason a rollback keeps, in characters. */
export const MAX_ROLLBACK_REASON = 512
/** Longest cause a revision keeps, in characters. */
export const MAX_CAUSE = 200

/** One revision of a workload, whole: the current one or one rebuilt from the history. */
export interface Revision {
  revision: number
  /** When and by whom it was written. */
  version: DeclVersion
  workload: Workload
  generation: string
  /** Why it was written, when not a plain apply: `scale 5`, `restart`, `rollback to 2`. */
  cause?: string
  /** Present when it undid a failed rollout. */
  rollback?: RollbackMark
}

/** The revision number of an entry written before revisions existed is 1. */
export const revisionOf = (entry: DeclEntry): number => entry.revision ?? 1

/**
 * Every revision an entry holds, newest (the current one) first. A history record that does not
 * rebuild into a valid workload (a peer sent one) ends the list there: nothing invalid comes back.
 */
export function revisionsOf(entry: DeclEntry): Revision[] {
  if (entry.workload === undefined) return []
  const revisions: Revision[] = [
    {
      revision: revisionOf(entry),
      version: entry.version,
      workload: entry.workload,
      generation: generationOf(entry.workload),
      ...(entry.cause === undefined ? {} : { cause: entry.cause }),
      ...(entry.rollback === undefined ? {} : { rollback: entry.rollback }),
    },
  ]
  let newer = entry.workload
  for (const record of entry.history ?? []) {
    const parsed = WorkloadSchema.safeParse(undo(newer, record))
    if (!parsed.success || parsed.data.name !== entry.name) break
    newer = parsed.data
    revisions.push({
      revision: record.revision,
      version: record.version,
      workload: newer,
      generation: generationOf(newer),
      ...(record.cause === undefined ? {} : { cause: record.cause }),
      ...(record.rollback === undefined ? {} : { rollback: record.rollback }),
    })
  }
  return revisions
}

/**
 * When the entry's current generation was first declared, by its revisions: the oldest revision
 * of that generation (a scale, a label or a rollback to it keeps the first). Bounds the age a
 * slot's holder may claim (`placement/credible.ts`). Undefined when the entry cannot say: it
 * predates revisions, or its history was cut and the generation may be older still.
 */
export function generationSince(entry: DeclEntry): Hlc | undefined {
  if (entry.revision === undefined) return undefined
  const revisions = revisionsOf(entry)
  const current = revisions[0]
  if (current === undefined) return undefined
  // Cut history: a revision left out may have declared the generation earlier.
  if ((revisions[revisions.length - 1] as Revision).revision > 1) return undefined
  let first = current
  for (const revision of revisions) if (revision.generation === current.generation) first = revision
  return first.version.hlc
}

/** What an apply of `workload` writes over `current`: a new revision, or nothing when it changes nothing. */
export function appliedEntry(
  current: DeclEntry | undefined,
  workload: Workload,
  version: DeclVersion,
  cause?: string,
  options: { keepRedeploy?: boolean } = {},
): DeclEntry | undefined {
  const live = current?.workload === undefined ? undefined : current
  // A restart's count is no field a user writes: an apply after `gary restart` keeps it.
  const redeploy = options.keepRedeploy === false ? undefined : live?.workload?.redeploy
  const next: Workload = redeploy === undefined ? workload : { ...workload, redeploy }
  if (live !== undefined && canonicalJson(live.workload) === canonicalJson(next)) return undefined
  return {
    name: workload.name,
    version,
    deleted: false,
    workload: next,
    revision: live === undefined ? 1 : revisionOf(live) + 1,
    ...(cause === undefined ? {} : { cause: cut(cause, MAX_CAUSE) }),
    ...(live === undefined ? {} : { history: pushHistory(live, next) }),
  }
}

/** `gary scale NAME=N`: the current spec with `replicas` N, as a new revision. */
export function scaledEntry(
  current: DeclEntry,
  replicas: number,
  version: DeclVersion,
): DeclEntry | undefined {
  const workload = current.workload as Workload
  if (workload.mode === 'global' || replicas < 0 || replicas > MAX_REPLICAS || !Number.isInteger(replicas))
    return undefined
  return appliedEntry(current, { ...workload, replicas }, version, `scale ${replicas}`)
}

/** `gary restart NAME`: the same spec, one more `redeploy`: every container replaced, in waves. */
export function restartedEntry(current: DeclEntry, version: DeclVersion): DeclEntry | undefined {
  const workload = current.workload as Workload
  const redeploy = Math.min(MAX_REDEPLOY, (workload.redeploy ?? 0) + 1)
  return {
    name: current.name,
    version,
    deleted: false,
    workload: { ...workload, redeploy },
    revision: revisionOf(current) + 1,
    cause: 'restart',
    history: pushHistory(current, { ...workload, redeploy }),
  }
}

/**
 * The revision a rollback of the current one restores: `to`, or the newest earlier revision that
 * runs something else (another generation). A string says why there is none.
 */
export function rollbackTarget(current: DeclEntry, to?: number): Revision | string {
  const [now, ...earlier] = revisionsOf(current)
  if (now === undefined) return `${current.name} is not declared`
  if (to !== undefined) {
    if (to === now.revision) return `revision ${to} is the current one`
    return (
      earlier.find((r) => r.revision === to) ?? `${current.name} keeps no revision ${to} (see gary history)`
    )
  }
  return (
    earlier.find((r) => r.generation !== now.generation) ??
    `${current.name} keeps no earlier revision that runs something else (see gary history)`
  )
}

/**
 * What runs when `target` is restored over the current spec: the target's containers (image,
 * command, env, resources, ports, restart, health, restart count), at the current scale,
 * placement and update settings, as `kubectl rollout undo` keeps the replicas.
 */
export function restoredWorkload(current: Workload, target: Workload): Workload {
  return {
    ...target,
    mode: current.mode,
    replicas: current.replicas,
    constraints: current.constraints,
    update: current.update,
    labels: current.labels,
  }
}

/** `gary rollback NAME [--to REV]`: an earlier revision declared again, as a new revision (a plain write). */
export function restoredEntry(current: DeclEntry, version: DeclVersion, to?: number): DeclEntry | string {
  const target = rollbackTarget(current, to)
  if (typeof target === 'string') return target
  const workload = restoredWorkload(current.workload as Workload, target.workload)
  return (
    appliedEntry(current, workload, version, `rollback to ${target.revision}`, { keepRedeploy: false }) ??
    `revision ${target.revision} runs what runs now: nothing to roll back`
  )
}

/**
 * The automatic rollback of a failed rollout: the write `current` undone, its previous
 * generation back. It beats `current` only (see `compareEntries`): a later apply or `rm`, on
 * either side of a partition, always wins over it. Undefined when there is nothing to undo: the
 * entry is itself a rollback, or keeps no earlier revision that runs something else.
 */
export function rollbackEntry(
  current: DeclEntry,
  version: DeclVersion,
  reason: string,
): DeclEntry | undefined {
  if (current.workload === undefined || current.rollback !== undefined) return undefined
  const target = rollbackTarget(current)
  if (typeof target === 'string') return undefined
  const workload = restoredWorkload(current.workload, target.workload)
  const revision = revisionOf(current)
  return {
    name: current.name,
    version,
    deleted: false,
    workload,
    revision: revision + 1,
    rollback: { of: current.version, revision, reason: cut(reason, MAX_ROLLBACK_REASON) },
    history: pushHistory(current, workload),
  }
}

/**
 * What a node whose rollout of `generation` failed declares (rule 8): the previous revision again,
 * unless the declaration has moved on since or the workload asks to pause.
 */
export function rollbackAfterFailure(
  current: DeclEntry | undefined,
  generation: string,
  version: DeclVersion,
  reason: string,
): DeclEntry | undefined {
  const spec = current?.workload
  if (current === undefined || spec === undefined) return undefined
  if (generationOf(spec) !== generation || spec.update.failureAction !== 'rollback') return undefined
  return rollbackEntry(current, version, reason)
}

/** The current revision recorded as history under `next`, the older records after it, trimmed. */
function pushHistory(current: DeclEntry, next: Workload): RevisionRecord[] {
  const record: RevisionRecord = {
    revision: revisionOf(current),
    version: current.version,
    ...(current.cause === undefined ? {} : { cause: current.cause }),
    ...(current.rollback === undefined ? {} : { rollback: current.rollback }),
    ...delta(current.workload as Workload, next),
  }
  const history = [record, ...(current.history ?? [])].slice(0, MAX_HISTORY)
  // Records are deltas against the newer one: trimming from the oldest end keeps the rest valid.
  let bytes = canonicalJson(history).length
  while (history.length > 1 && bytes > MAX_HISTORY_BYTES) {
    history.pop()
    bytes = canonicalJson(history).length
  }
  return history
}

/** The fields of `older` that differ from `newer`'s: what rebuilds `older` from `newer`. */
function delta(older: Workload, newer: Workload): Pick<RevisionRecord, 'set' | 'unset'> {
  const set: Record<string, unknown> = {}
  const unset: string[] = []
  const a = older as unknown as Record<string, unknown>
  const b = newer as unknown as Record<string, unknown>
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (canonicalJson(a[key] ?? null) === canonicalJson(b[key] ?? null)) continue
    if (Object.hasOwn(a, key)) set[key] = a[key]
    else unset.push(key)
  }
  return {
    ...(Object.keys(set).length === 0 ? {} : { set }),
    ...(unset.length === 0 ? {} : { unset: unset.sort() }),
  }
}

/** Rebuilds the older workload of a record from the newer one. */
function undo(newer: Workload, record: RevisionRecord): unknown {
  const older: Record<string, unknown> = { ...newer, ...record.set }
  for (const key of record.unset ?? []) delete older[key]
  return older
}

const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 3)}...` : text)
