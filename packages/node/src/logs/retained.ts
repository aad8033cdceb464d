import { slotKey } from '@gary/protocol'
import type { LogLine } from '@gary/runtime'

export interface RetainedLogsInit {
  /** How long a refused slot's last lines stay readable, ms. Default 10 minutes. */
  keepMs?: number
  /** Most bytes of lines kept a slot: the newest ones. Default 64 KiB. */
  maxBytes?: number
  /** Most slots kept at once: the oldest go first. Default 64 (4 MiB at most, by default). */
  maxSlots?: number
}

/** Defaults of RetainedLogs, as the README states them. */
export const RETAINED_LOGS_KEEP_MS = 10 * 60_000
export const RETAINED_LOGS_MAX_BYTES = 64 * 1024

interface Kept {
  lines: LogLine[]
  /** Monotonic ms after which the lines are gone. */
  until: number
}

/**
 * The last lines of slots this node refused, kept in memory for `gary logs --previous` after
 * their containers were removed: bounded in time (`keepMs`), in size a slot (`maxBytes`) and in
 * slots (`maxSlots`), so that a crash-looping cluster cannot fill a node's memory.
 */
export class RetainedLogs {
  readonly #kept = new Map<string, Kept>()
  readonly #keepMs: number
  readonly #maxBytes: number
  readonly #maxSlots: number

  constructor(
    init: RetainedLogsInit,
    private readonly now: () => number,
  ) {
    this.#keepMs = init.keepMs ?? RETAINED_LOGS_KEEP_MS
    this.#maxBytes = init.maxBytes ?? RETAINED_LOGS_MAX_BYTES
    this.#maxSlots = init.maxSlots ?? 64
  }

  /** Keeps the newest of `lines` (oldest first) that fit in the byte bound, replacing what the slot had. */
  keep(workload: string, slot: number, lines: readonly LogLine[]): void {
    this.#expire()
    const kept: LogLine[] = []
    let bytes = 0
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i]!
      const size = Buffer.byteLength(line.line) + 1
      if (bytes + size > this.#maxBytes) break
      bytes += size
      kept.push(line)
    }
    const key = slotKey(workload, slot)
    this.#kept.delete(key)
    this.#kept.set(key, { lines: kept.reverse(), until: this.now() + this.#keepMs })
    for (const oldest of this.#kept.keys()) {
      if (this.#kept.size <= this.#maxSlots) break
      this.#kept.delete(oldest)
    }
  }

  /** The slot's kept lines, oldest first; undefined when none are kept (or they expired). */
  get(workload: string, slot: number): readonly LogLine[] | undefined {
    this.#expire()
    return this.#kept.get(slotKey(workload, slot))?.lines
  }

  #expire(): void {
    const now = this.now()
    for (const [key, kept] of this.#kept) if (kept.until <= now) this.#kept.delete(key)
  }
}
