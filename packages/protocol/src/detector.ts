import { itemHash } from './digest.js'

/**
 * Fast detection of silent members (docs/design.md, "Fast detection"): each node sends a
 * heartbeat every `fastBeatMs` to its `watchers` ring successors among its connections, on top of
 * the regular heartbeat to every peer; a successor that has been hearing a member fast and then
 * hears nothing for `suspectAfterMs` (stretched by its own local health) accuses it once, and a
 * member accused by two distinct witnesses is dead everywhere. Before it accuses, a witness knocks
 * at the member's machine (a bare TCP connection to its listening port, answered by its kernel
 * whatever its process does): a machine that answers holds a process that is only slow (a stalled
 * event loop, SIGSTOP), which the regular age thresholds judge; only a machine that does not
 * answer (powered off, cut off) or refuses (its process is gone) is accused. A node whose own
 * timers fire late (Lifeguard's local health) stretches its timeouts and accuses nobody: the
 * silence it sees may be its own.
 */
export interface DetectorConfig {
  /** How often a node beats its ring successors, ms. Default 150. */
  fastBeatMs: number
  /**
   * Ring successors each node beats fast: the witnesses of its silence. Default 3: two of them
   * make a death, so one witness whose own loop is late does not hold the verdict back.
   */
  watchers: number
  /**
   * Silence after which a witness that heard a member fast accuses it, ms. Default 300, two beats
   * missed: the knock, not this floor, keeps a beat that is only late from an accusation.
   */
  suspectAfterMs: number
  /**
   * A member's last two heartbeats at most this far apart: it is beating this node fast, so its
   * silence means something after `suspectAfterMs`. Default 3 fast beats.
   */
  fastGapMs: number
  /**
   * After a member leaves a node's successors (a join moved the ring), the node keeps beating it
   * fast this long: its witness learns of the newcomer before the beats slow down. Default 2000.
   */
  graceMs: number
  /**
   * Silence after which a witness knocks at the member's machine, ms: early enough that a machine
   * that does not answer has missed `knockTimeoutMs` by `suspectAfterMs`. Default 150, one beat:
   * a beat a little late costs a knock its machine answers, not an accusation.
   */
  knockAfterMs: number
  /** A knock not answered within this is no answer, ms. Default 150. */
  knockTimeoutMs: number
  /** A machine that answered a knock while its process stays silent is knocked at again after this, ms. Default 500. */
  knockAgainMs: number
  /**
   * The silence that accuses is at least this many times the member's worst recent gap between
   * fast beats (`worstGap`): on a lossy link, TCP's retransmissions delay beats by 200 ms, 600 ms
   * and more, and a fixed 400 ms made a simulated cluster with 30 % loss churn for good. Default 1.5.
   */
  gapFactor: number
  /** A member's worst gap is forgotten by half every this long, ms. Default 10000. */
  gapHalfLifeMs: number
  /**
   * A longer gap is not jitter but an absence (a machine powered off and booted, a cable cut and
   * healed): it does not count, ms. Default 1000.
   */
  gapCapMs: number
}

export const DEFAULT_DETECTOR: DetectorConfig = {
  fastBeatMs: 150,
  watchers: 3,
  suspectAfterMs: 300,
  fastGapMs: 450,
  graceMs: 2000,
  knockAfterMs: 150,
  knockTimeoutMs: 150,
  knockAgainMs: 500,
  gapFactor: 1.5,
  gapHalfLifeMs: 10_000,
  gapCapMs: 1000,
}

/** Distinct witnesses whose reports of silence make a member dead. */
export const DOWN_WITNESSES = 2
/**
 * Reports count together only this close in time: two witnesses of one silence report within a
 * second of each other (the regular heartbeat's phase), while two lone blips minutes apart are
 * not one death.
 */
export const WITNESS_WINDOW_MS = 5000

/**
 * The `count` ring successors of `self` among `members` (the members it beats fast) and its `count`
 * predecessors (the members it watches: those that beat it). The ring orders nodes by the hash of
 * their id, so that neighbours are spread however ids were made; every node that computes it over
 * the same members finds that it watches exactly the members that beat it.
 */
export function ringNeighbours(
  self: string,
  members: Iterable<string>,
  count: number,
): { successors: string[]; predecessors: string[] } {
  // The `count` nearest each way, kept sorted as the members go by: a node reshapes its ring on
  // every change of its member table, and sorting the whole ring each time cost more than the rest.
  const selfHash = itemHash(self)
  const seen = new Set<string>()
  const nearest: RingEntry[] = []
  const farthest: RingEntry[] = []
  for (const id of members) {
    if (id === self || seen.has(id)) continue
    seen.add(id)
    // Distance clockwise from self on the 32-bit ring; ties (equal hashes) broken by id.
    const entry = { id, distance: (itemHash(id) - selfHash + 2 ** 32) % 2 ** 32 }
    keep(nearest, entry, count, (a, b) => ringBefore(a, b))
    keep(farthest, entry, count, (a, b) => ringBefore(b, a))
  }
  return { successors: nearest.map((e) => e.id), predecessors: farthest.map((e) => e.id) }
}

interface RingEntry {
  id: string
  distance: number
}

const ringBefore = (a: RingEntry, b: RingEntry): boolean =>
  a.distance < b.distance || (a.distance === b.distance && a.id < b.id)

/** Inserts `entry` into `list` (sorted by `first`) if it is among the `count` first. */
function keep(
  list: RingEntry[],
  entry: RingEntry,
  count: number,
  first: (a: RingEntry, b: RingEntry) => boolean,
): void {
  if (list.length === count && (count === 0 || !first(entry, list[count - 1] as RingEntry))) return
  let i = Math.min(list.length, count - 1)
  if (list.length < count) list.push(entry)
  while (i > 0 && first(entry, list[i - 1] as RingEntry)) {
    list[i] = list[i - 1] as RingEntry
    i--
  }
  list[i] = entry
}

/** The `count` ring successors of `self` among `members`: the members it beats fast. */
export function ringSuccessors(self: string, members: Iterable<string>, count: number): string[] {
  return ringNeighbours(self, members, count).successors
}

/**
 * What a witness knows of a member's heartbeats: when the last two arrived (monotonic ms), and
 * the worst gap between fast beats lately (`worstGap`).
 */
export interface Beats {
  lastAt?: number
  previousAt?: number
  worstGap?: WorstGap
}

/** The worst gap between a member's fast beats (ms), as of `at` (monotonic ms). */
export interface WorstGap {
  ms: number
  at: number
}

/**
 * A member's worst gap after a beat at `now`, given its beats before it: a gap counts only when
 * the member was beating fast already (its previous two beats close), so that the one-second
 * gaps of the regular heartbeat before it joined this node's ring are not taken for jitter, and
 * only up to `gapCapMs`: the gap across a power-off and a boot stretched the next death's silence
 * to the age thresholds' 3 s on the lab. The worst gap fades by half every `gapHalfLifeMs`.
 */
export function worstGapAfter(beats: Beats, now: number, config = DEFAULT_DETECTOR): WorstGap | undefined {
  const { lastAt, previousAt, worstGap } = beats
  if (lastAt === undefined || previousAt === undefined || lastAt - previousAt > config.fastGapMs)
    return worstGap
  const gap = now - lastAt
  if (gap > config.gapCapMs) return worstGap
  const faded = fadedGap(worstGap, now, config)
  return gap > faded ? { ms: gap, at: now } : worstGap
}

function fadedGap(worst: WorstGap | undefined, now: number, config: DetectorConfig): number {
  return worst === undefined ? 0 : worst.ms * 0.5 ** (Math.max(0, now - worst.at) / config.gapHalfLifeMs)
}

/** The silence after which a witness accuses a member that beat it fast, before local health, ms. */
export function silenceThreshold(beats: Beats, now: number, config = DEFAULT_DETECTOR): number {
  return Math.max(config.suspectAfterMs, config.gapFactor * fadedGap(beats.worstGap, now, config))
}

/**
 * Whether `beats` show a member that was beating this node fast and has now been silent past the
 * threshold, stretched by this node's local-health `multiplier`.
 */
export function fastSilent(
  beats: Beats,
  now: number,
  multiplier: number,
  config: DetectorConfig = DEFAULT_DETECTOR,
): boolean {
  const { lastAt, previousAt } = beats
  if (lastAt === undefined || previousAt === undefined) return false
  if (lastAt - previousAt > config.fastGapMs) return false
  return now - lastAt > silenceThreshold(beats, now, config) * multiplier
}

/**
 * Whether this node's own evidence outweighs a witness's report of silence: it heard the member
 * within the time a witness must wait before accusing.
 */
export function contradicts(
  lastDirectAt: number | undefined,
  now: number,
  config = DEFAULT_DETECTOR,
): boolean {
  return lastDirectAt !== undefined && now < contradictsUntil(lastDirectAt, config)
}

/** The first time at which a heartbeat heard at `lastDirectAt` no longer contradicts a report. */
export function contradictsUntil(lastDirectAt: number, config = DEFAULT_DETECTOR): number {
  return lastDirectAt + config.suspectAfterMs + 1
}

/**
 * A knock at a silent member's machine (`silence`): when it was made (monotonic ms) and, once
 * answered, whether the machine answered (`up`) or not (`down`: no answer in time, refused, or
 * unreachable) and when.
 */
export interface Knock {
  at: number
  answer?: 'up' | 'down'
  answeredAt?: number
}

/**
 * The one decision of fast detection, for a member this node watches: `accuse` it of silence,
 * `knock` at its machine first, or nothing (`none`). A member that beat this node fast and has
 * been silent past `knockAfterMs` is knocked at; past `suspectAfterMs` it is accused if the knock
 * made since its last beat went unanswered. A machine that answered is knocked at again every
 * `knockAgainMs` while its process stays silent: its process is slow, not gone (the regular age
 * thresholds judge it), unless the machine stops answering too. Never while this node's own timers
 * are late.
 */
export function silence(
  beats: Beats,
  knock: Knock | undefined,
  now: number,
  health: LocalHealth,
  config = DEFAULT_DETECTOR,
): 'none' | 'knock' | 'accuse' {
  if (!health.mayAccuse(now)) return 'none'
  const { lastAt, previousAt } = beats
  if (lastAt === undefined || previousAt === undefined || lastAt - previousAt > config.fastGapMs)
    return 'none'
  const knockAfter = silenceThreshold(beats, now, config) - (config.suspectAfterMs - config.knockAfterMs)
  if (now - lastAt <= knockAfter) return 'none'
  // A knock made before the last beat says nothing of this silence.
  if (knock === undefined || knock.at < lastAt) return 'knock'
  if (knock.answer === undefined) return 'none'
  if (knock.answer === 'up')
    return now - (knock.answeredAt ?? knock.at) >= config.knockAgainMs ? 'knock' : 'none'
  return fastSilent(beats, now, 1, config) ? 'accuse' : 'none'
}

/**
 * Whether this node, a witness, would accuse a member of silence at `now` if its machine did not
 * answer a knock. Never while its own timers are late.
 */
export function accuses(beats: Beats, now: number, health: LocalHealth, config = DEFAULT_DETECTOR): boolean {
  return health.mayAccuse(now) && fastSilent(beats, now, health.multiplier(now), config)
}

/** Lifeguard's local health: how late this node's own timers fire. All times monotonic ms. */
export interface LocalHealthConfig {
  /** A timer firing this much later than due counts as lag, ms. Default 100. */
  lateMs: number
  /** The score never exceeds this: timeouts stretch at most (1 + maxScore) times. Default 8. */
  maxScore: number
  /** The score falls by one for each this long without lag, ms. Default 500. */
  recoverMs: number
}

export const DEFAULT_LOCAL_HEALTH: LocalHealthConfig = { lateMs: 100, maxScore: 8, recoverMs: 500 }

/**
 * The regular heartbeat-age thresholds stretch at most this much: they are the backstop when no
 * fast witness speaks, and a node that lags for seconds must still see a dead peer die.
 */
export const MAX_AGE_STRETCH = 2

/**
 * Lifeguard's local-health multiplier: a timer that fires late raises the score by one per
 * `lateMs` of lateness (a long stall counts for more than a short one), time without lag lowers
 * it. A node with a score above zero stretches its own timeouts by `1 + score` and accuses nobody:
 * the silence it hears may come from its own event loop.
 */
export class LocalHealth {
  #score = 0
  #since = Number.NEGATIVE_INFINITY

  constructor(readonly config: LocalHealthConfig = DEFAULT_LOCAL_HEALTH) {}

  /** A timer due at `due` fired at `now`. */
  fired(due: number, now: number): void {
    this.#decay(now)
    const late = now - due
    if (!(late > this.config.lateMs)) return
    this.#score = Math.min(this.config.maxScore, this.#score + Math.ceil(late / this.config.lateMs))
    this.#since = now
  }

  /** The score at `now`: 0 is healthy. */
  score(now: number): number {
    this.#decay(now)
    return this.#score
  }

  /** How much this node stretches its timeouts at `now`. */
  multiplier(now: number): number {
    return 1 + this.score(now)
  }

  /** Whether this node may accuse another of silence at `now`: only while its own timers are on time. */
  mayAccuse(now: number): boolean {
    return this.score(now) === 0
  }

  #decay(now: number): void {
    if (this.#score === 0) return
    const steps = Math.floor((now - this.#since) / this.config.recoverMs)
    if (steps <= 0) return
    this.#score = Math.max(0, this.#score - steps)
    this.#since += steps * this.config.recoverMs
  }
}
