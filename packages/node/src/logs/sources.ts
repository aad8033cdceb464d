import type { LogLine } from '@gary/runtime'
import type { SlotRow } from '../api/slot-rows.js'
import { errorMessage as message } from '../net/streams.js'

/** One container whose logs can be read: a slot and the node holding it. */
export interface LogSource {
  slot: number
  node: string
}

const PHASE_RANK: Record<string, number> = { running: 0, starting: 1, restarting: 1, failed: 2, releasing: 3 }

/**
 * Where a workload's logs are read: for each slot (or only `slot`), the node that holds it with a
 * container, preferring one whose container runs. A global workload has its slot on every node, so
 * each of them is a source.
 */
export function logSources(
  rows: readonly SlotRow[],
  workload: string,
  options: { slot?: number; global?: boolean } = {},
): LogSource[] {
  const best = new Map<string, SlotRow>()
  for (const row of rows) {
    if (row.workload !== workload || row.node === null || row.containerId === null) continue
    if (options.slot !== undefined && row.slot !== options.slot) continue
    const rank = PHASE_RANK[row.phase]
    if (rank === undefined) continue
    const key = options.global === true ? `${row.slot} ${row.node}` : `${row.slot}`
    const current = best.get(key)
    if (current === undefined || rank < PHASE_RANK[current.phase]!) best.set(key, row)
  }
  return [...best.values()]
    .map((row) => ({ slot: row.slot, node: row.node! }))
    .sort((a, b) => a.slot - b.slot || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
}

/** One line of a workload's logs as the API streams it, or why a source could not be read. */
export type LogItem =
  | { slot: number; node: string; stream: LogLine['stream']; line: string }
  | { slot: number; node: string; error: string }

/**
 * The lines of several sources, each tagged with its slot and node. Every source is opened first:
 * with one source its refusal rejects; with several, a refusal becomes an error item unless every
 * source refuses. Without `follow` the sources come one after the other, in slot order; with it
 * they are interleaved as lines arrive. A source that breaks later ends with an error item.
 */
export async function readSources(
  sources: readonly LogSource[],
  open: (source: LogSource, signal: AbortSignal) => Promise<AsyncIterable<LogLine>>,
  options: { follow: boolean; signal: AbortSignal },
): Promise<AsyncIterable<LogItem>> {
  // Ending the whole read closes every source, also those never iterated.
  const all = new AbortController()
  const signal = AbortSignal.any([options.signal, all.signal])
  const opened = await Promise.allSettled(sources.map((source) => open(source, signal)))
  const refusals = opened.flatMap((result) => (result.status === 'rejected' ? [result.reason as Error] : []))
  if (refusals.length === opened.length && refusals[0] !== undefined) {
    all.abort()
    throw refusals[0]
  }
  const tagged = opened.map((result, i) =>
    result.status === 'fulfilled'
      ? tag(sources[i]!, result.value, signal)
      : once({ ...sources[i]!, error: message(result.reason) }),
  )
  return (async function* () {
    try {
      if (options.follow) yield* merge(tagged)
      else for (const source of tagged) yield* source
    } finally {
      all.abort()
      for (const source of tagged) void source.return(undefined)
    }
  })()
}

async function* tag(
  source: LogSource,
  lines: AsyncIterable<LogLine>,
  signal: AbortSignal,
): AsyncGenerator<LogItem> {
  try {
    for await (const { stream, line } of lines) yield { ...source, stream, line }
  } catch (err) {
    if (!signal.aborted) yield { ...source, error: message(err) }
  }
}

async function* once<T>(value: T): AsyncGenerator<T> {
  yield value
}

/**
 * Interleaves generators that never throw, as their values come; `more`, when given, yields
 * further generators to interleave as they appear (members that join while following).
 */
export async function* merge<T>(
  sources: AsyncGenerator<T>[],
  more?: AsyncGenerator<AsyncGenerator<T>>,
): AsyncGenerator<T> {
  type Next = { index: number; result: IteratorResult<T> } | { added: IteratorResult<AsyncGenerator<T>> }
  const all = [...sources]
  const pending = new Map<number, Promise<Next>>()
  const pull = (index: number) =>
    pending.set(
      index,
      all[index]!.next().then((result) => ({ index, result })),
    )
  for (let index = 0; index < all.length; index++) pull(index)
  // Index -1 is `more`'s own next.
  const pullMore = () =>
    more &&
    pending.set(
      -1,
      more.next().then((added) => ({ added })),
    )
  pullMore()
  try {
    while (pending.size > 0) {
      const next = await Promise.race(pending.values())
      if ('added' in next) {
        pending.delete(-1)
        if (next.added.done === true) continue
        all.push(next.added.value)
        pull(all.length - 1)
        pullMore()
        continue
      }
      if (next.result.done === true) {
        pending.delete(next.index)
        continue
      }
      yield next.result.value
      pull(next.index)
    }
  } finally {
    // The sources `more` added are this merge's to end.
    for (const source of all.slice(sources.length)) void source.return(undefined)
    void more?.return(undefined)
  }
}

/** Where one slot's previous logs may be: the nodes to ask, in order. */
export interface PreviousCandidates {
  slot: number
  nodes: string[]
}

/**
 * Where a workload's previous logs may be, for each slot (or only `slot`): the node holding it
 * first (it keeps the slot's last exited container), then every other live node (one that
 * refused the slot keeps its last lines a while, and a refusal is not kept in anyone's view once
 * the generation changes). A global workload's slot is asked of every node, each for its own.
 */
export function previousCandidates(
  rows: readonly SlotRow[],
  workload: string,
  live: readonly string[],
  options: { slot?: number; global?: boolean; replicas: number },
): PreviousCandidates[] {
  if (options.global === true) return live.map((node) => ({ slot: 0, nodes: [node] }))
  const slots = new Set<number>()
  if (options.slot !== undefined) slots.add(options.slot)
  else {
    for (let slot = 0; slot < options.replicas; slot++) slots.add(slot)
    for (const row of rows) if (row.workload === workload) slots.add(row.slot)
  }
  return [...slots]
    .sort((a, b) => a - b)
    .map((slot) => {
      const holders = rows
        .filter((row) => row.workload === workload && row.slot === slot && row.node !== null)
        .map((row) => row.node as string)
      return { slot, nodes: [...new Set([...holders, ...live])] }
    })
}

/**
 * Each slot's previous lines, from the first of its candidates that has them, slot after slot
 * (a node that keeps nothing answers at once). Rejects with the last refusal when no node has
 * any slot's.
 */
export async function readPrevious(
  candidates: readonly PreviousCandidates[],
  open: (source: LogSource, signal: AbortSignal) => Promise<AsyncIterable<LogLine>>,
  signal: AbortSignal,
): Promise<AsyncIterable<LogItem>> {
  const found: { source: LogSource; lines: AsyncIterable<LogLine> }[] = []
  let last: Error | undefined
  for (const { slot, nodes } of candidates) {
    for (const node of nodes) {
      try {
        found.push({ source: { slot, node }, lines: await open({ slot, node }, signal) })
        break
      } catch (err) {
        last = err as Error
      }
    }
  }
  if (found.length === 0) throw last ?? new Error('no node to ask')
  return (async function* () {
    for (const { source, lines } of found) yield* tag(source, lines, signal)
  })()
}
