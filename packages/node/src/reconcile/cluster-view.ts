import {
  ClaimIndex,
  type Credence,
  credenceOf,
  credibleNode,
  currentState,
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  type DeclStore,
  deathKey,
  generationOf,
  isClaimant,
  type MemberTable,
  type NodeState,
  type PlacementNode,
} from '@gary/protocol'
import { PartialView } from './partial-view.js'
import type { Death, ReconcileView } from './reconciler.js'

export interface ClusterViewInit {
  /**
   * A just-started node claims nothing until a peer agrees with its view (`agreed`) or, alone,
   * for this long, so that it first learns the others' promises, ms. Default 2000.
   */
  warmupMs?: number
  /** Members heard from within this window count as "seen recently" for rule 10, ms. Default 300000. */
  recentWindowMs?: number
}

export interface ClusterViewComponents {
  members: MemberTable
  declarations: DeclStore
  /** What this node offers now. */
  self: () => ReconcileView['self']
  /** Monotonic ms. */
  now: () => number
  /**
   * When a peer's heartbeat last showed the same members and declarations as this node's
   * (monotonic ms), if ever; with `peer`, that peer's.
   */
  agreedAt: (peer?: string) => number | undefined
  /**
   * False while a node told to join has heard from no member: it takes no work until then, as
   * it would otherwise run the whole cluster's work alone. Default: always true.
   */
  joined?: () => boolean
  /**
   * Whether placement reads the member; default all. With ring shards, only the members in scope
   * (placement decides alike without the others: `placement-shards.test.ts`). The others are
   * left out of the view: held at an older state on purpose, or not held at all with partial
   * membership, and indexing their promises as they came and went was 8 % of a simulated
   * partition at 1000 nodes.
   */
  reads?: (member: string) => boolean
  /**
   * The bound on clock offset, ms: a promise of a workload's generation since before that
   * generation was declared, less this, is not credible (`credibleNode`). Default 500.
   */
  maxClockOffsetMs?: number
  /**
   * Asks for a connection to one of `members`: the other side of a healed cut, alive here, none
   * of them connected. Only one of their heartbeats ends the wait after a regained contact, and
   * nothing else dials them (`MembershipAgent.reach`). Default: nothing.
   */
  reach?: (members: readonly string[]) => void
}

/**
 * The reconcile loop's view of the cluster, read from the member table and the declaration
 * store: live members (alive or suspect, with a known state) and the promises placement reads, live
 * declarations, and whether this node's view is partial (rule 10) or still warming up.
 */
export class ClusterView {
  readonly #partial = new PartialView()
  /** The live members' promises, indexed once per state received rather than once per pass. */
  readonly #index = new ClaimIndex()
  /**
   * Live members with a known state, as placement reads them, kept up to date from the table's
   * changes; `at` is the member's place in `#others`, which is updated in place (rebuilding it on
   * each pass cost 9 % of a simulated cold start at 300 nodes).
   */
  readonly #live = new Map<string, { state: NodeState; node: PlacementNode; at: number }>()
  readonly #others: PlacementNode[] = []
  /** Live members whose state has not arrived yet. */
  readonly #waiting = new Set<string>()
  /** Members seen recently, over all and over direct connections, and when they were counted. */
  #recent: { at: number; size: number; all: number; direct: number } | undefined
  #synced = false
  /** Only an agreement from this time on makes the view complete: start-up, or a regained contact. */
  #agreeFrom: number
  /** The last read saw a partial view (rule 10). */
  #wasPartial = false
  /** Contact was regained after a partial view: only an agreement ends the wait, never the warm-up. */
  #regained = false
  /**
   * Members that turned dead since the view was last whole and complete (no roll call short of
   * answers either): the other side of a cut.
   */
  readonly #lost = new Set<string>()
  /**
   * Members dead here whose last state held slots: the key of each one's death (`deathKey`), and
   * when it was last heard from.
   */
  readonly #dead = new Map<string, { key: string; heardAt: number }>()
  /** What the credence of members' promises was last computed from (`#facts`), and the credence. */
  #factsKey = ''
  #digest = ''
  #credence: Credence | undefined
  #banned: ReadonlySet<string> = new Set()
  readonly #startedAt: number
  readonly #warmupMs: number
  readonly #recentWindowMs: number

  constructor(
    init: ClusterViewInit,
    private readonly components: ClusterViewComponents,
  ) {
    this.#startedAt = components.now()
    this.#agreeFrom = this.#startedAt
    this.#warmupMs = init.warmupMs ?? 2000
    this.#recentWindowMs = init.recentWindowMs ?? 300_000
  }

  /** When the warm-up ends, monotonic ms. */
  get warmAt(): number {
    return this.#startedAt + this.#warmupMs
  }

  /** The view now. Its `others` array is this view's own, valid until the next read. */
  read(): ReconcileView {
    const now = this.components.now()
    this.#update()
    const worse = this.#rule10Counts(now)
    const partial = this.#partial.observe(worse.hearing, worse.recent, now)
    this.#regain(partial.partial, now)
    // A roll call short of half the members: partial until more answer, though not for long
    // enough to count as cut off (a regained contact, a policy's `after`).
    const rollCallShort = !partial.partial && this.#rollCallShort()
    const waitingFor = this.#waiting.values().next().value
    const agreed = this.#agreed()
    const warm =
      (this.components.joined?.() ?? true) &&
      (agreed || (!this.#regained && now >= this.warmAt)) &&
      waitingFor === undefined
    // Not while a roll call is short: the member whose death started it is the first of the other
    // side to go (a split 2|3 lost it from `#lost` so, and the two cut off together, hearing it
    // back first, agreed with each other and claimed the slots of the others still dead to them).
    if (warm && !partial.partial && !rollCallShort) {
      this.#regained = false
      this.#lost.clear()
    }
    return {
      workloads: this.components.declarations.live(),
      others: this.#others,
      index: this.#index,
      self: this.components.self(),
      partialView: partial.partial || rollCallShort,
      partialViewForMs: partial.forMs,
      warm,
      waitingFor,
      deaths: () => this.#deaths(now),
      ...(this.#credence === undefined ? {} : { credence: this.#credence }),
    }
  }

  /**
   * The deaths of the members dead here (`deathKey`), and whether each was heard from within
   * `RECENT_DEATH_MS`: only those may be acted on as new (`Reconciler`, `FailoverClaims`), so that
   * a node cut off for a while does not act on a death long after the others dropped it from what
   * they publish.
   */
  #deaths(now: number): readonly Death[] {
    if (this.#dead.size === 0) return NO_DEATHS
    return [...this.#dead.values()].map((d) => ({ key: d.key, recent: now - d.heardAt <= RECENT_DEATH_MS }))
  }

  /**
   * A node that sees most of the cluster again after a partial view (a healed cable) claims
   * nothing until a peer agrees with its view, as at start-up: it hears the members one by one,
   * and seeing half of them again ended rule 10 while the rest were still dead in its view, so it
   * claimed their slots, which their holders still ran (a lab machine healed after a cut started
   * a second copy of a replica in 5 runs of 7).
   */
  #regain(partial: boolean, now: number): void {
    if (partial) this.#wasPartial = true
    else if (this.#wasPartial) {
      this.#wasPartial = false
      this.#regained = true
      this.#agreeFrom = now
    }
  }

  /**
   * Whether a peer has agreed with this node's view since `#agreeFrom`. After a regained contact,
   * the peer must be one of the other side (a member that turned dead here meanwhile) while any
   * of them is alive here: two nodes cut off together hear the same few members back first, and
   * agreed with each other on that view (a lab split 2|3 whose minority then claimed a slot of
   * a member it did not hear yet).
   */
  #agreed(): boolean {
    const { agreedAt, members } = this.components
    const since = (at: number | undefined) => at !== undefined && at >= this.#agreeFrom
    if (this.#regained) {
      const otherSide: string[] = []
      let connected = false
      for (const id of this.#lost) {
        const member = members.get(id)
        if (member?.status !== 'alive') continue
        if (since(agreedAt(id))) return true
        otherSide.push(id)
        connected ||= member.direct
      }
      // A node whose connections all stayed on its side (a minority of `targetPeers` + 1, each
      // connected to all the others) learns the heal by gossip, with no connection to the other
      // side: it waited for good, and a free slot whose ring walk chose it ran nowhere.
      if (otherSide.length > 0 && !connected) this.components.reach?.(otherSide)
      if (otherSide.length > 0) return false
    }
    return since(agreedAt())
  }

  /**
   * The member no longer live whose last state held slot `slot` of `workload`, if any: the node
   * that takes the slot over says whose it was. O(members), for each claim of a free slot.
   */
  formerHolder(workload: string, slot: number): string | undefined {
    for (const member of this.components.members.members()) {
      if (member.status !== 'dead' || member.state === undefined) continue
      if (member.state.promises.some((p) => p.workload === workload && p.slot === slot && isClaimant(p)))
        return member.id
    }
    return undefined
  }

  /** Applies the members that changed since the last read (all of them the first time). */
  #update(): void {
    const { members } = this.components
    const touched = members.takeTouched()
    // New declarations or bans may change what counts of any member: judge them all again.
    const all = this.#facts() || !this.#synced
    const ids = all ? new Set([...Array.from(members.members(), (m) => m.id), ...touched]) : touched
    this.#synced = true
    const reads = this.components.reads
    for (const id of ids) {
      const member = reads === undefined || reads(id) ? members.get(id) : undefined
      // A restarted member's old promises are void: it waits, like a new one, for its state.
      // A banned member counts for nothing.
      const banned = this.#banned.has(id)
      const state = member === undefined || banned ? undefined : currentState(member)
      if (member?.status === 'dead') this.#lost.add(id)
      // Only a death that frees slots is acted on (`Reconciler`): each costs a NodeState from every node.
      if (member?.status === 'dead' && member.state?.promises.some(isClaimant) === true)
        this.#dead.set(id, { key: deathKey(id, member.announced), heardAt: member.heardAt })
      else this.#dead.delete(id)
      if (member !== undefined && member.status !== 'dead' && state === undefined && !banned)
        this.#waiting.add(id)
      else if (this.#waiting.size > 0) this.#waiting.delete(id)
      const made = this.#live.get(id)
      if (state === undefined) {
        if (made !== undefined) this.#remove(id, made.at)
        continue
      }
      if (made?.state === state && !all) continue
      const node = credibleNode(placementNode(state), this.#credence as Credence)
      if (made?.node === node) continue
      if (made === undefined) {
        this.#live.set(id, { state, node, at: this.#others.length })
        this.#others.push(node)
      } else {
        made.state = state
        made.node = node
        this.#others[made.at] = node
      }
      this.#index.set(node)
    }
  }

  /**
   * Recomputes the credence and the banned members when the declarations changed what they say
   * of them (a generation, when it was declared, a ban); true when they did.
   */
  #facts(): boolean {
    const { declarations } = this.components
    const digest = declarations.digest()
    if (digest === this.#digest && this.#credence !== undefined) return false
    this.#digest = digest
    const times = declarations.generationTimes()
    const live = declarations.live()
    const banned = declarations.banned()
    const key = JSON.stringify([
      live.map((w) => [w.name, generationOf(w), w.mode, w.replicas, times.get(w.name)]),
      banned,
    ])
    const offset = this.components.maxClockOffsetMs ?? DEFAULT_MAX_CLOCK_OFFSET_MS
    if (key === this.#factsKey && this.#credence !== undefined) return false
    this.#factsKey = key
    // Keyed by the whole workloads: nodes share a credence only when it would be the same.
    const shared = `${offset}\u0000${key}\u0000${JSON.stringify(live)}`
    this.#credence = sharedCredence(shared, () => credenceOf(live, times, offset))
    this.#banned = new Set(banned)
    return true
  }

  /** Takes a member out: the last of `#others` moves into its place. */
  #remove(id: string, at: number): void {
    this.#live.delete(id)
    this.#index.delete(id)
    const last = this.#others.pop() as PlacementNode
    if (at === this.#others.length) return
    this.#others[at] = last
    ;(this.#live.get(last.id) as { at: number }).at = at
  }

  /**
   * Whether a roll call is under way (a member just died here) and fewer than half of the members
   * seen recently over direct connections, this node included, answered it yet: the others may
   * have fallen silent with the dead one (the other side of a cut), and only turn suspect seconds
   * later.
   */
  #rollCallShort(): boolean {
    const heard = this.components.members.rollCall()
    if (heard === undefined) return false
    return (1 + heard) * 2 < 1 + (this.#recent?.direct ?? 0)
  }

  /**
   * Rule 10 is judged twice. Over all members: a node cut off with others (a minority) hears of
   * the rest's deaths from its side's witnesses. Over its own connections: a node cut off alone
   * hears no report at all, only its peers going silent. Members count as seen recently when
   * heard within the window, this node included; as seen now when alive: a node cut off sees its
   * peers turn suspect together, and one of them dead a moment before the rest; counting suspects
   * as seen let it take the first one's slots. The table keeps the counts of members alive;
   * those seen recently move with time alone, at the window's far edge, so they are recounted
   * once a second or when members come or go (counting on every pass was O(N) per pass).
   */
  #rule10Counts(now: number): { hearing: number; recent: number } {
    const { members } = this.components
    let recent = this.#recent
    if (recent === undefined || recent.size !== members.size || now - recent.at >= RECOUNT_MS) {
      recent = { at: now, size: members.size, all: 0, direct: 0 }
      for (const member of members.members()) {
        // A member that said it left is not missed: a cluster shrunk by graceful stops is whole.
        if (member.left === true) continue
        if (now - member.heardAt <= this.#recentWindowMs) recent.all++
        if (member.lastDirectAt !== undefined && now - member.lastDirectAt <= this.#recentWindowMs)
          recent.direct++
      }
      this.#recent = recent
    }
    const { alive, directAlive } = members.hearing
    const all = { recent: 1 + recent.all, hearing: 1 + alive }
    const direct = { recent: 1 + recent.direct, hearing: 1 + directAlive }
    return all.hearing * direct.recent <= direct.hearing * all.recent ? all : direct
  }
}

const RECOUNT_MS = 1000
/** A death is acted on as new only while its member was heard from within this, ms. */
export const RECENT_DEATH_MS = 10_000
const NO_DEATHS: readonly Death[] = []

/**
 * Credences by what they are computed from (`#facts`): the views of one process share one, and
 * with it what `credibleNode` remembers of each member's promises. A daemon has one view; the
 * simulator has one a node, each of which judged every state it received again.
 */
const credences = new Map<string, Credence>()
const CREDENCES_KEPT = 64

function sharedCredence(key: string, make: () => Credence): Credence {
  let credence = credences.get(key)
  if (credence === undefined) {
    credence = make()
    if (credences.size >= CREDENCES_KEPT) credences.clear()
    credences.set(key, credence)
  }
  return credence
}

function placementNode(state: NodeState): PlacementNode {
  return {
    id: state.node,
    labels: state.labels,
    capacity: state.capacity,
    ...(state.hostPaths === undefined ? {} : { hostPaths: state.hostPaths }),
    ...(state.volumes === undefined ? {} : { volumes: state.volumes }),
    draining: state.draining,
    promises: state.promises,
    refusals: state.refusals,
    ...(state.seenDead === undefined ? {} : { seenDead: state.seenDead }),
  }
}
