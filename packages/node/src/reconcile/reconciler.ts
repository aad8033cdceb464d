import {
  type BackoffConfig,
  type ClaimIndex,
  type ClaimRule,
  type Credence,
  DEFAULT_BACKOFF,
  DEFAULT_PLACEMENT_CONFIG,
  decideRestart,
  describeClaimRule,
  describeFailure,
  type EventRecord,
  generationOf,
  HLC_ZERO,
  type Hlc,
  hlcCompare,
  hlcTick,
  judgeHealth,
  MAX_EVENT_REASON_CHARS,
  MAX_SEEN_DEAD,
  openingKey,
  opensGeneration,
  type PlacementConfig,
  type PlacementNode,
  type PlacementView,
  plan,
  RESTART_SETTLE_MS,
  type Refusal,
  readyBudgetMs,
  runningPhase,
  type SelfAction,
  type SlotFailure,
  type SlotPromise,
  slotKey,
  type Unschedulable,
  type Workload,
} from '@gary/protocol'
import {
  ContainerNotFoundError,
  type ContainerRuntime,
  type ContainerSummary,
  ImagePullError,
  NameConflictError,
  type RegistryAuth,
  RegistryAuthError,
} from '@gary/runtime'
import type { Logger } from 'pino'
import type { Clock } from '../clock/clock.js'
import { swallowed } from '../logger.js'
import { RECENT_DEATH_MS } from './cluster-view.js'
import { LABELS, parseSlotLabels } from './container-labels.js'
import { containerSpecFor, endpointsOf } from './container-spec.js'
import { type HostPathGuard, HostPathRefusedError } from './host-paths.js'
import { type SecretFiles, SecretUnavailableError } from './secret-files.js'

/** What the reconcile loop reads each pass: the cluster as this node sees it now. */
export interface ReconcileView {
  /** Live declarations. */
  workloads: Workload[]
  /** Live members other than this node, with the promises they published. */
  others: PlacementNode[]
  /** `others` indexed, kept between passes (large clusters plan from it). */
  index?: ClaimIndex
  /** What bounds the promises that count: `others` are judged by it already, self by `plan`. */
  credence?: Credence
  /** What this node offers. */
  self: Pick<PlacementNode, 'labels' | 'capacity' | 'draining' | 'hostPaths' | 'volumes'>
  /** Rule 10: this node sees fewer than half of the members it saw recently. */
  partialView: boolean
  partialViewForMs: number
  /** False while the node has just started and may not yet know the others' promises. */
  warm: boolean
  /** A live member whose state this node has not received yet (for logs). */
  waitingFor?: string
  /** The deaths of the members dead here (asked only in small clusters). Absent: none. */
  deaths?: () => readonly Death[]
}

/** A member dead in the view: its death's key (`deathKey`), and whether it was heard from lately. */
export interface Death {
  key: string
  recent: boolean
}

export interface ReconcilerInit {
  placement?: Partial<PlacementConfig>
  backoff?: Partial<BackoffConfig>
  /** How long a stopping container gets before it is killed, seconds. Default 5. */
  stopTimeoutSeconds?: number
  /** A full pass runs at least this often even with no trigger, ms. Default 5000. */
  resyncMs?: number
  /**
   * A pass waits this long after the first trigger, so that a burst of gossip (every claim of a
   * deploy arriving within a few ms) costs one pass, not one per message, ms. Default 20.
   */
  coalesceMs?: number
  /**
   * Host name or address that published ports are reached at, or where to read it when a port is
   * published (the node's addresses can change). Default `127.0.0.1`.
   */
  advertiseHost?: string | (() => string)
  /** Name servers new containers are given, read at each create; undefined: the engine's. */
  containerDns?: () => string[] | undefined
  /**
   * How long a released slot that served published ports keeps running at least once its release
   * is published, so that connections in flight end, ms (and, with `outOfRotation`, until every
   * mesh has stopped sending it new ones). Default 0: no drain.
   */
  drainMs?: number
}

export interface ReconcilerComponents {
  /** This node's id: its containers carry it, its promises are published under it. */
  self: string
  runtime: ContainerRuntime
  logger: Logger
  clock: Clock
  view: () => ReconcileView
  /**
   * Own promises, refusals or the deaths acted on (`NodeState.seenDead`; undefined: none) changed:
   * publish them.
   */
  publish: (promises: SlotPromise[], refusals: Refusal[], seenDead: string[] | undefined) => void
  /**
   * A slot this node started for a rollout failed on probation: the rollout of that generation
   * failed, for `reason`. The daemon writes the workload's rollback if it asks for one.
   */
  onRolloutFailed?: (failure: { workload: string; slot: number; generation: string; reason: string }) => void
  /** Told how long each `plan` call took, real ms (the simulator's cost accounting). */
  onPlanned?: (ms: number) => void
  /** Told how long each pass took, real ms, engine calls included (metrics). */
  onPassed?: (ms: number) => void
  /**
   * A refused slot's last container is about to be removed: keep what it wrote, for `gary logs
   * --previous`. Awaited (bounded by the caller) before the removal.
   */
  retainLogs?: (slot: {
    workload: string
    slot: number
    generation: string
    container: string
  }) => Promise<void>
  /** Told what this node did about its slots, for `gary events`. */
  record?: (event: EventRecord) => void
  /**
   * The member, no longer live, whose last state held a replicated slot: a slot the rules call
   * free is then a failover of that member.
   */
  formerHolder?: (workload: string, slot: number) => string | undefined
  /** How a node id is shown in log lines (a name beside a short id). Default: the id. */
  label?: (id: string) => string
  /** Where the secrets of this node's containers are written; none: a slot with secrets is refused. */
  secretFiles?: SecretFiles
  /** The cluster's login for the registry of an image, if it holds one. */
  registryAuth?: (image: string) => RegistryAuth | undefined
  /** Judges bind mounts' sources on this node; absent: it mounts none. */
  hostPaths?: HostPathGuard
  /**
   * A slot that served published ports drains before its container stops (released, or failing
   * its health check): resolves once every mesh that may send the container connections has
   * stopped (or could not say so in time). Awaited beside `drainMs`.
   */
  outOfRotation?: (
    slot: { workload: string; slot: number; container: string },
    signal: AbortSignal,
  ) => Promise<void>
}

type OpKind = 'prepare' | 'start' | 'recover' | 'release'

/** One of this node's promises, and what it knows of the container keeping it. */
interface Held {
  promise: SlotPromise
  op?: { kind: OpKind; abort: AbortController; done: Promise<void> }
  /** Restarts made in the current retry budget. */
  restarts: number
  /** Monotonic time the container was first seen running in its current run. */
  runningSince?: number
  /** `epoch` when its last operation ended: a listing taken before then is out of date for it. */
  settledAt: number
  /** A container created while the claim settles, started once it has. */
  prepared?: string
  /** An opening claim (`PlacementView.openingClaims`): it may start once every rival answered. */
  opening?: true
  /** A failover claim (`PlacementView.failoverClaims`): made in a pass that acted on a new death. */
  failover?: true
  /** For an opening or failover claim: the deaths this node had acted on when it made it. */
  stamp?: readonly string[]
  /**
   * A claim of a slot whose holder is no longer live: its container starts before its CPU limit
   * applies (`ContainerSpec.unthrottledStart`), as a restart's does.
   */
  restores?: true
  /** Monotonic time a slot on probation was last seen turning ready. */
  readySince?: number
  /** Monotonic time the current run was first seen passing its health check. */
  healthySince?: number
  /** Monotonic time the slot should be looked at again (a settle or a health budget ends). */
  recheckAt?: number
  /**
   * The slot's last exited container, kept stopped for `gary logs --previous` until the next
   * one exits or the slot is released: one a slot.
   */
  previous?: { id: string; name: string }
}

/**
 * Held slots by slot and generation: a node holds two promises of one slot while a successor at
 * a new generation starts beside the old one (start-first).
 */
const heldKey = (workload: string, slot: number, generation: string) =>
  `${slotKey(workload, slot)}\u0000${generation}`
const keyOfHeld = (promise: SlotPromise) => heldKey(promise.workload, promise.slot, promise.generation)

/** How long a claim turning into a start may wait to be published, ms (see the `start` action). */
const STARTING_PUBLISH_MS = 1000
/** While rule 10 holds a node back, it looks again this often, ms. */
const PARTIAL_RECHECK_MS = 500
/** Generations of workloads remembered as claimed here (the oldest are forgotten past it). */
const CLAIMED_GENERATIONS_KEPT = 4096
/** A death acted on stays in `seenDead` at most this long, ms (`FailoverClaims` says why it must outlast `RECENT_DEATH_MS`). */
const SEEN_DEAD_KEPT_MS = 60_000
/** Deaths remembered as acted on, so that none is added twice (the oldest are forgotten past it). */
const DEATHS_REMEMBERED = 1024

/**
 * The level-based reconcile loop: any trigger (gossip, a container event, a timer) makes it read
 * the whole view again, plan with the placement rules, and apply this node's part of the plan
 * through the runtime. Each slot has at most one operation in flight (start, recover, release);
 * operations run side by side, and each one's end triggers another pass.
 */
export class Reconciler {
  readonly #held = new Map<string, Held>()
  readonly #refusals = new Map<string, Refusal>()
  readonly #removing = new Set<string>()
  readonly #config: PlacementConfig
  readonly #backoff: BackoffConfig
  readonly #stopTimeout: number
  readonly #resyncMs: number
  readonly #coalesceMs: number
  readonly #advertiseHost: () => string
  readonly #containerDns: () => string[] | undefined
  readonly #drainMs: number
  #hlc: Hlc = HLC_ZERO
  #running = false
  #scheduled = false
  /** When the scheduled publish is due (monotonic ms), if one is. */
  #publishDue: number | undefined
  #publishTimer: unknown
  #again = false
  #stopped = true
  #idle: Promise<void> = Promise.resolve()
  #timer: unknown
  #unschedulable: readonly Unschedulable[] = []
  /** From the last plan: slots a draining holder keeps since no other node can take them. */
  #drainBlocked: ReadonlySet<string> = new Set()
  /** The last pass saw a partial view (rule 10). */
  #partial = false
  #passes = 0
  #warm = false
  /** Counts ended operations. */
  #epoch = 0
  /** The last listing of this node's containers, and `epoch` and the time when it was taken. */
  #listing: { containers: ContainerSummary[]; epoch: number; at: number } | undefined
  #listingWanted = true
  /** Images known to be present: checking before every start costs the engine a call. */
  readonly #images = new Set<string>()
  /** Containers this node removed that a listing may still show. */
  #removed = new Set<string>()
  /** Each workload's `update.monitor`, ms, as of the last pass. */
  #monitorMs = new Map<string, number>()
  /**
   * Workload generations (`workload\0generation`) this process has claimed a slot of, oldest
   * first: a claim is an opening one only in the first pass that claims its generation.
   */
  readonly #claimedGenerations = new Set<string>()
  /** The deaths acted on lately (`NodeState.seenDead`), oldest first, and when each was added (monotonic ms). */
  readonly #seenDead = new Map<string, { at: number; goneAt?: number }>()
  /** Every death ever added to `#seenDead` (a bounded memory): a death is added once. */
  readonly #deathsActedOn = new Set<string>()

  constructor(
    init: ReconcilerInit,
    private readonly components: ReconcilerComponents,
  ) {
    this.#config = { ...DEFAULT_PLACEMENT_CONFIG, ...init.placement }
    this.#backoff = { ...DEFAULT_BACKOFF, ...init.backoff }
    this.#stopTimeout = init.stopTimeoutSeconds ?? 5
    this.#resyncMs = init.resyncMs ?? 5000
    this.#coalesceMs = init.coalesceMs ?? 20
    const host = init.advertiseHost ?? '127.0.0.1'
    this.#advertiseHost = typeof host === 'string' ? () => host : host
    this.#containerDns = init.containerDns ?? (() => undefined)
    this.#drainMs = init.drainMs ?? 0
  }

  /** Re-adopts the running containers this node's labels mark as its own, then starts the loop. */
  async start(): Promise<void> {
    this.#stopped = false
    const containers = await this.components.runtime.list({ [LABELS.node]: this.components.self })
    for (const container of containers) this.#adopt(container)
    // An adopted slot's newest exited container is its previous one again (listed newest first).
    for (const container of containers) {
      const slot = parseSlotLabels(container.labels)
      if (slot === undefined || container.state === 'running') continue
      const held = this.#held.get(heldKey(slot.workload, slot.slot, slot.generation))
      if (held !== undefined && held.previous === undefined)
        held.previous = { id: container.id, name: container.name }
    }
    await Promise.all(
      [...this.#held.values()].map(async (held) => {
        const details = await this.components.runtime.inspect(held.promise.container as string).catch(
          swallowed(this.components.logger, 'cannot inspect an adopted container', {
            slot: held.promise.slot,
          }),
        )
        if (details !== undefined) held.promise.endpoints = endpointsOf(details.ports, this.#advertiseHost())
      }),
    )
    if (this.#held.size > 0) this.#publish()
    this.trigger()
  }

  /** Stops the loop. Containers keep running: a restarted daemon adopts them again. */
  async stop(): Promise<void> {
    this.#stopped = true
    this.components.clock.clearTimeout(this.#timer)
    await this.#idle
    // A restart waiting out its backoff, or a start under way, is dropped: the next daemon finds
    // whatever container it left and adopts or removes it.
    for (const held of this.#held.values()) held.op?.abort.abort()
    await Promise.allSettled([...this.#held.values()].flatMap((held) => (held.op ? [held.op.done] : [])))
  }

  /**
   * Look again, at the containers too: something may have happened to them behind the loop's
   * back (a container event, a timer). Bursts of triggers coalesce into one pass.
   */
  trigger(): void {
    this.#listingWanted = true
    this.viewChanged()
  }

  /**
   * Look again at the cluster: gossip changed the view. The last listing of containers is still
   * good for this (a stale one is safe: see `#observe`), which spares the engine a call for every
   * change anywhere in the cluster.
   */
  viewChanged(): void {
    if (this.#stopped) return
    if (this.#running) {
      this.#again = true
      return
    }
    if (this.#scheduled) return
    this.#scheduled = true
    this.components.clock.setTimeout(() => {
      this.#scheduled = false
      if (this.#stopped || this.#running) return
      this.#running = true
      this.#idle = this.#loop()
    }, this.#coalesceMs)
  }

  /** From the last plan, for `gary ps`: the slots no node can take, and why. */
  get unschedulable(): readonly Unschedulable[] {
    return this.#unschedulable
  }

  /**
   * Whether this node holds nothing more it could hand over: every promise it still has is one
   * that no other node can take (a draining node keeps those), and none is being released.
   */
  get handedOver(): boolean {
    for (const held of this.#held.values())
      if (!this.#drainBlocked.has(slotKey(held.promise.workload, held.promise.slot))) return false
    return true
  }

  get promises(): SlotPromise[] {
    return [...this.#held.values()].map((held) => held.promise)
  }

  get refusals(): Refusal[] {
    return [...this.#refusals.values()]
  }

  /** The deaths this node has acted on lately, newest last (`NodeState.seenDead`). */
  get seenDead(): string[] {
    const all = [...this.#seenDead.keys()]
    return all.length <= MAX_SEEN_DEAD ? all : all.slice(all.length - MAX_SEEN_DEAD)
  }

  /** Passes run so far (for tests and the simulator's accounting). */
  get passes(): number {
    return this.#passes
  }

  /** The slot's last exited container, kept for `gary logs --previous`, if this node has one. */
  previousOf(workload: string, slot: number): string | undefined {
    for (const held of this.#held.values())
      if (held.promise.workload === workload && held.promise.slot === slot && held.previous !== undefined)
        return held.previous.id
    return undefined
  }

  /** The container keeping one of this node's slots, if any: the one serving, if two do. */
  containerOf(workload: string, slot: number): string | undefined {
    let found: SlotPromise | undefined
    for (const { promise } of this.#held.values()) {
      if (promise.workload !== workload || promise.slot !== slot || promise.container === undefined) continue
      if (found === undefined || (promise.ready && !found.ready)) found = promise
    }
    return found?.container
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false
        const passStart = performance.now()
        await this.#pass().catch((err: Error) => {
          // The engine may be what failed: list again next time.
          this.#listingWanted = true
          this.components.logger.warn({ err: err.message }, 'reconcile pass failed')
        })
        this.components.onPassed?.(performance.now() - passStart)
      } while (this.#again && !this.#stopped)
    } finally {
      this.#running = false
    }
  }

  async #pass(): Promise<void> {
    this.#passes++
    const { runtime, self, clock } = this.components
    if (
      this.#listingWanted ||
      this.#listing === undefined ||
      clock.now() - this.#listing.at >= this.#resyncMs
    ) {
      this.#listingWanted = false
      const epoch = this.#epoch
      const at = clock.now()
      this.#listing = { containers: await runtime.list({ [LABELS.node]: self }), epoch, at }
      if (this.#stopped) return
    }
    const { containers, epoch, at } = this.#listing
    const view = this.components.view()
    // Not warm (a regained contact waits for a peer to agree) moves with heartbeats alone too.
    this.#partial = view.partialView || !view.warm
    let changed = this.#observe(containers, view, epoch, at)
    changed = this.#pruneRefusals(view.workloads) || changed
    // A death acted on is published, with the claims this pass makes after it.
    const newDeaths = this.#actOnDeaths(view)
    changed = newDeaths || changed

    const planStart = performance.now()
    const result = plan(
      {
        self,
        workloads: view.workloads,
        nodes: [...view.others, { id: self, ...view.self, promises: this.promises, refusals: this.refusals }],
        nowWall: this.components.clock.wallNow(),
        partialView: view.partialView || !view.warm,
        partialViewForMs: view.warm ? view.partialViewForMs : 0,
        ...this.#earlyClaims(),
        ...(view.index === undefined ? {} : { claims: view.index }),
        ...(view.credence === undefined ? {} : { credence: view.credence }),
      },
      this.#config,
    )
    this.components.onPlanned?.(performance.now() - planStart)
    // Only what `gary ps` reads is kept: a whole plan (assignment and buckets of every slot) per
    // pass held 3 GB in a 1000-node simulation.
    this.#unschedulable = result.unschedulable
    this.#drainBlocked = new Set(result.buckets['drain-blocked'])
    if (view.warm !== this.#warm) {
      this.#warm = view.warm
      if (view.warm)
        this.components.logger.info({ members: view.others.length + 1 }, 'view complete: taking new work')
      else if (this.#passes > 1)
        this.components.logger.info({ waitingFor: view.waitingFor }, 'view incomplete: taking no new work')
    }
    this.components.logger.debug(
      {
        warm: view.warm,
        waitingFor: view.waitingFor,
        partialView: view.partialView,
        nodes: view.others.length + 1,
        actions: result.actions
          .filter((a) => a.kind !== 'keep')
          .map((a) => `${a.kind} ${slotKey(a.workload, a.slot)}`),
      },
      'reconcile pass',
    )
    const byName = new Map(view.workloads.map((w) => [w.name, w]))
    this.#monitorMs = new Map(view.workloads.map((w) => [w.name, w.update.monitorMs]))
    const opening = this.#openingOf()
    const deaths = { seen: this.seenDead, new: newDeaths }
    for (const action of result.actions) changed = this.#apply(action, byName, opening, deaths) || changed
    if (changed) this.#publish()
    this.#arm()
  }

  /** Brings promises up to date with the containers; removes containers no promise accounts for. */
  #observe(containers: ContainerSummary[], view: ReconcileView, epoch: number, seenAt: number): boolean {
    let changed = false
    // What the listing says held when it was taken, which may be a while ago (gossip reuses it):
    // a container it shows running ran at least until then, and may have exited since.
    const now = seenAt
    const accounted = new Set<string>()
    for (const held of this.#held.values()) {
      const { promise } = held
      if (held.op !== undefined || held.settledAt > epoch) {
        // The operation owns the slot's containers until it ends.
        for (const c of containers) if (this.#isSlotContainer(c, promise)) accounted.add(c.id)
        continue
      }
      if (held.prepared !== undefined) accounted.add(held.prepared)
      if (held.previous !== undefined) accounted.add(held.previous.id)
      const container = containers.find((c) => c.id === promise.container)
      if (container !== undefined) accounted.add(container.id)
      if (promise.phase !== 'running' && promise.phase !== 'starting' && promise.phase !== 'restarting')
        continue
      const workload = view.workloads.find((w) => w.name === promise.workload)
      held.recheckAt = undefined
      if (container?.state === 'running') {
        held.runningSince ??= now
        if (container.health === 'healthy') held.healthySince ??= now
        const runningForMs = Math.max(0, now - held.runningSince)
        // Rule 7: ready once the engine's health check passes (at once without one); a check that
        // fails, or never passes within its budget, fails the container as an exit does.
        // The spec's check only for a slot of the spec's generation: an older one's is not known.
        const current = workload !== undefined && generationOf(workload) === promise.generation
        const verdict = judgeHealth(
          current ? workload.health : undefined,
          container.health,
          runningForMs,
          held.healthySince !== undefined,
        )
        if (verdict.kind === 'failed' && workload !== undefined) {
          // Still running: out of every mesh's rotation before it is stopped, as a release is.
          const drains = this.#drains(held)
          changed = this.#set(held, { phase: 'restarting', ready: false }) || changed
          const failure: SlotFailure = {
            kind: 'unhealthy',
            reason: verdict.reason,
            healthyForMs: held.healthySince === undefined ? 0 : now - held.healthySince,
          }
          this.#operate(held, 'recover', async (signal) => {
            if (drains) await this.#drain(held, signal)
            await this.#recover(held, workload, container, signal, failure)
          })
          continue
        }
        if (verdict.kind === 'waiting' && Number.isFinite(verdict.untilMs))
          held.recheckAt = held.runningSince + verdict.untilMs
        const shown = runningPhase(held.restarts, verdict.kind === 'ready', runningForMs)
        if (shown.phase === 'restarting' && verdict.kind === 'ready')
          held.recheckAt = held.runningSince + RESTART_SETTLE_MS
        changed = this.#set(held, shown) || changed
        if (promise.probation === true) changed = this.#monitor(held, workload, shown.ready, now) || changed
        continue
      }
      if (workload === undefined) continue // the plan releases it
      changed = this.#set(held, { phase: 'restarting', ready: false }) || changed
      this.#operate(held, 'recover', (signal) => this.#recover(held, workload, container, signal))
    }
    const listed = new Set<string>()
    for (const container of containers) {
      listed.add(container.id)
      if (accounted.has(container.id) || this.#removing.has(container.id)) continue
      if (this.#removed.has(container.id)) continue
      this.#removeStray(container)
    }
    for (const id of this.#removed) if (!listed.has(id)) this.#removed.delete(id)
    return changed
  }

  /**
   * A slot on probation counts as updated once it has been ready for the workload's `monitor`
   * (rule 8): then its promise says so, and the rollout's next wave may go.
   */
  #monitor(held: Held, workload: Workload | undefined, ready: boolean, now: number): boolean {
    if (!ready) {
      held.readySince = undefined
      return false
    }
    held.readySince ??= now
    if (workload !== undefined && now - held.readySince < workload.update.monitorMs) return false
    const { probation: _, ...promise } = held.promise
    held.promise = promise
    return true
  }

  /** Keys of the opening and failover claims still settling, and the deaths each followed, for the plan. */
  #earlyClaims(): Pick<PlacementView, 'openingClaims' | 'failoverClaims' | 'claimStamps'> {
    const opening = new Set<string>()
    const failover = new Set<string>()
    const stamps = new Map<string, readonly string[]>()
    for (const held of this.#held.values()) {
      const { promise } = held
      if ((held.opening !== true && held.failover !== true) || promise.phase !== 'claimed') continue
      const key = openingKey(promise.workload, promise.slot, promise.generation)
      if (held.opening === true) opening.add(key)
      if (held.failover === true) failover.add(key)
      if (held.stamp !== undefined && held.stamp.length > 0) stamps.set(key, held.stamp)
    }
    return {
      ...(opening.size === 0 ? {} : { openingClaims: opening }),
      ...(failover.size === 0 ? {} : { failoverClaims: failover }),
      ...(stamps.size === 0 ? {} : { claimStamps: stamps }),
    }
  }

  /**
   * Acts on the deaths of the view (rule 5's failover exception, `FailoverClaims`): adds each recent
   * one not acted on before to `seenDead` while the view is whole and complete (this pass may claim
   * the dead members' slots, and its claims are failover claims); true when it added one. A death leaves `seenDead`
   * `RECENT_DEATH_MS` after its member is no longer dead here (a rebooted member, which never
   * publishes its own death, and nodes started since, hold it no more), and `SEEN_DEAD_KEPT_MS`
   * after it was added. Only in clusters placed by the exact pass: a death would cost every member
   * of a large one a NodeState from each.
   */
  #actOnDeaths(view: ReconcileView): boolean {
    const now = this.components.clock.now()
    const small = view.others.length + 1 <= this.#config.planLocallyAbove && this.#config.shards <= 1
    const deaths = small && view.deaths !== undefined ? view.deaths() : []
    if (this.#seenDead.size > 0) {
      const dead = new Set(deaths.map((d) => d.key))
      for (const [key, acted] of this.#seenDead) {
        if (!dead.has(key)) acted.goneAt ??= now
        if (
          now - acted.at <= SEEN_DEAD_KEPT_MS &&
          (acted.goneAt === undefined || now - acted.goneAt <= RECENT_DEATH_MS)
        )
          continue
        // Not published by itself: a list longer than the node's is only ever asked less of.
        this.#seenDead.delete(key)
      }
    }
    if (this.#partial) return false
    let added = false
    for (const { key, recent } of deaths) {
      if (!recent || this.#deathsActedOn.has(key)) continue
      this.#deathsActedOn.add(key)
      if (this.#deathsActedOn.size > DEATHS_REMEMBERED)
        for (const oldest of this.#deathsActedOn) {
          this.#deathsActedOn.delete(oldest)
          break
        }
      this.#seenDead.set(key, { at: now })
      added = true
    }
    if (added) this.components.logger.info({ seenDead: this.seenDead }, 'acting on deaths')
    return added
  }

  /**
   * For this pass's claims: whether a claim of the workload's generation is an opening one. It is
   * when this process has never claimed a slot of that generation and holds no promise of it (an
   * adopted container's, say); decided once per generation and pass, before any of the pass's
   * claims, so that every claim of that first pass is an opening one.
   */
  #openingOf(): (workload: string, generation: string) => boolean {
    const decided = new Map<string, boolean>()
    return (workload, generation) => {
      const key = `${workload}\u0000${generation}`
      let opening = decided.get(key)
      if (opening === undefined) {
        opening =
          !this.#claimedGenerations.has(key) &&
          opensGeneration({ promises: this.promises }, workload, generation)
        decided.set(key, opening)
      }
      return opening
    }
  }

  #remember(workload: string, generation: string): void {
    const key = `${workload}\u0000${generation}`
    this.#claimedGenerations.delete(key)
    this.#claimedGenerations.add(key)
    if (this.#claimedGenerations.size > CLAIMED_GENERATIONS_KEPT)
      for (const oldest of this.#claimedGenerations) {
        this.#claimedGenerations.delete(oldest)
        break
      }
  }

  #apply(
    action: SelfAction,
    workloads: Map<string, Workload>,
    opening: (workload: string, generation: string) => boolean,
    /**
     * The deaths acted on so far (a claim's stamp), and whether this pass acted on a new one: its
     * claims are failover claims then.
     */
    deaths: { seen: readonly string[]; new: boolean },
  ): boolean {
    const key = heldKey(action.workload, action.slot, action.kind === 'keep' ? '' : action.generation)
    const held = this.#held.get(key)
    const log = this.components.logger
    switch (action.kind) {
      case 'keep':
        return false
      case 'claim': {
        if (held !== undefined) return false
        this.#hlc = hlcTick(this.#hlc, this.components.clock.wallNow())
        const first = action.rollout !== true && opening(action.workload, action.generation)
        const failover = action.rollout !== true && deaths.new
        this.#remember(action.workload, action.generation)
        const workload = workloads.get(action.workload)
        const because = this.#because(action.because, action.workload, action.slot, workload)
        this.#held.set(key, {
          restarts: 0,
          settledAt: 0,
          ...(first ? { opening: true as const } : {}),
          ...(failover ? { failover: true as const } : {}),
          ...((first || failover) && deaths.seen.length > 0 ? { stamp: deaths.seen } : {}),
          ...(failover || because.rule === 'failover' ? { restores: true as const } : {}),
          promise: {
            workload: action.workload,
            slot: action.slot,
            generation: action.generation,
            phase: 'claimed',
            since: this.#hlc,
            ready: false,
            endpoints: [],
            // A rollout's new slot is on probation until it has stayed ready for the monitor.
            ...(action.rollout === true ? { probation: true as const } : {}),
          },
        })
        const rule = describeClaimRule(because, this.components.label)
        log.info(
          {
            workload: action.workload,
            slot: action.slot,
            generation: action.generation,
            rule,
            rollout: action.rollout,
          },
          'claimed',
        )
        this.components.record?.({
          kind: 'claimed',
          workload: action.workload,
          slot: action.slot,
          generation: action.generation,
          because,
        })
        const claimed = this.#held.get(key) as Held
        if (workload !== undefined)
          this.#operate(claimed, 'prepare', (signal) => this.#prepare(claimed, workload, signal))
        return true
      }
      case 'start': {
        const workload = workloads.get(action.workload)
        // A start waits for the preparation to end; its end triggers another pass.
        if (held === undefined || held.op !== undefined || workload === undefined) return false
        if (held.promise.phase !== 'claimed') return false
        this.#set(held, { phase: 'starting' })
        log.info(
          { workload: action.workload, slot: action.slot },
          action.answered
            ? 'rivals answered: starting'
            : action.failover
              ? 'rivals saw the death: starting'
              : action.unsettled
                ? 'sole candidate: starting'
                : 'claim settled: starting',
        )
        this.#operate(held, 'start', (signal) => this.#startContainer(held, workload, signal))
        // No other node decides anything on a settled claim turning into a start, and the
        // container usually runs before this is due: published with its `running`, it spares every
        // member one message of three per deploy. A start before the settle delay ended goes out
        // at once: a rival claim this node could not see loses to it while that rival settles.
        this.#publish(action.unsettled ? this.#coalesceMs : STARTING_PUBLISH_MS)
        return false
      }
      case 'release': {
        if (held === undefined || held.op?.kind === 'release') return false
        log.info(
          {
            workload: action.workload,
            slot: action.slot,
            generation: action.generation,
            reason: action.reason,
          },
          'releasing',
        )
        this.#release(held, action.reason)
        return true
      }
    }
  }

  /** The rule of a claim: a slot the pass calls free is a failover when a member no longer live held it. */
  #because(rule: ClaimRule, workload: string, slot: number, spec: Workload | undefined): ClaimRule {
    if (rule.rule !== 'free' || spec?.mode === 'global') return rule
    const former = this.components.formerHolder?.(workload, slot)
    return former === undefined || former === this.components.self ? rule : { rule: 'failover', of: former }
  }

  #release(held: Held, reason: string): void {
    const previous = held.op
    previous?.abort.abort()
    const drains = this.#drains(held)
    this.#set(held, { phase: 'releasing', ready: false })
    this.#operate(held, 'release', async (signal) => {
      await previous?.done
      if (drains) await this.#drain(held, signal)
      const { container } = held.promise
      if (reason === 'refused' && container !== undefined && this.components.retainLogs !== undefined) {
        const { workload, slot, generation } = held.promise
        await this.components
          .retainLogs({ workload, slot, generation, container })
          .catch(swallowed(this.components.logger, "cannot keep a refused slot's logs", { workload, slot }))
      }
      await this.#removeSlotContainers(held.promise)
      this.#held.delete(keyOfHeld(held.promise))
      const { workload, slot } = held.promise
      this.components.logger.info({ workload, slot, reason }, 'released')
      this.components.record?.({ kind: 'released', workload, slot, reason })
      this.#publish()
    })
  }

  /**
   * Whether a slot about to be published not ready must drain before its container stops: it
   * served published ports, so meshes send it connections.
   */
  #drains(held: Held): boolean {
    return held.promise.ready && held.promise.endpoints.length > 0 && this.#drainMs > 0
  }

  /**
   * A slot published not ready keeps its container until every mesh has stopped sending it
   * connections (`outOfRotation`) and at least `drainMs` has passed for those in flight.
   */
  async #drain(held: Held, signal: AbortSignal): Promise<void> {
    const { workload, slot, container } = held.promise
    const meshes =
      container === undefined || this.components.outOfRotation === undefined
        ? undefined
        : this.components.outOfRotation({ workload, slot, container }, signal)
    await Promise.all([this.#delay(this.#drainMs, signal), meshes])
  }

  /**
   * While the claim settles, the slow part of a start: the image check and the container's
   * creation. A missing image is refused at once, before the settle delay is even over.
   */
  async #prepare(held: Held, workload: Workload, signal: AbortSignal): Promise<void> {
    if (!(await this.#ensureImage(held, workload, signal))) return
    held.prepared = await this.#create(workload, held.promise, held.restores === true, signal).catch(
      (err: Error) => {
        if (signal.aborted) throw err
        // The start creates it again, and reports what goes wrong then.
        return undefined
      },
    )
  }

  async #startContainer(held: Held, workload: Workload, signal: AbortSignal, restart = false): Promise<void> {
    const { runtime, logger } = this.components
    const { promise } = held
    if (!(await this.#ensureImage(held, workload, signal))) return
    let id = held.prepared
    held.prepared = undefined
    try {
      // A start in place binds the secrets' files again: after a reboot the tmpfs is empty.
      if (id !== undefined && workload.secrets !== undefined)
        await this.#secretFiles(workload, this.#nameOf(workload, promise))
      if (id !== undefined)
        await runtime.start(id, signal).catch(async (err) => {
          if (!(err instanceof ContainerNotFoundError)) throw err
          id = undefined // removed behind our back: create it again
        })
      if (id === undefined) {
        id = await this.#create(workload, promise, restart || held.restores === true, signal)
        await runtime.start(id, signal)
      }
    } catch (err) {
      if (signal.aborted) throw err
      if (id !== undefined) {
        await runtime
          .remove(id)
          .catch(swallowed(logger, 'cannot remove a container that failed to start', { id }))
        await this.components.secretFiles?.release(this.#nameOf(workload, promise))
      }
      // A secret that is missing here is missing on every node until someone creates it.
      if (err instanceof SecretUnavailableError) return this.#refuse(held, err.message)
      // The image went away since it was checked: check (and pull) again next time.
      if (err instanceof ImagePullError) this.#images.delete(workload.image)
      return this.#startFailed(held, workload, err as Error)
    }
    const details =
      workload.ports.length === 0
        ? undefined
        : await runtime
            .inspect(id, signal)
            .catch(swallowed(logger, 'cannot inspect a started container', { id }))
    held.runningSince = this.components.clock.now()
    held.healthySince = undefined
    this.components.record?.({
      kind: restart ? 'restarted' : 'started',
      workload: promise.workload,
      slot: promise.slot,
      generation: promise.generation,
      container: id.slice(0, 12),
    })
    this.#set(held, {
      // With a health check, ready once it passes (a later listing shows it); a restarted one
      // shows `restarting` until it has settled (a later listing shows that too).
      ...runningPhase(held.restarts, workload.health === undefined, 0),
      container: id,
      endpoints: details === undefined ? [] : endpointsOf(details.ports, this.#advertiseHost()),
    })
    // Looked at again when it must have settled, or passed its check: the engine's events say
    // when it does, not when it never does.
    held.recheckAt =
      held.runningSince +
      (workload.health === undefined
        ? held.restarts > 0
          ? RESTART_SETTLE_MS
          : Number.NaN
        : readyBudgetMs(workload.health))
    if (Number.isNaN(held.recheckAt)) held.recheckAt = undefined
    logger.info({ workload: promise.workload, slot: promise.slot, container: id.slice(0, 12) }, 'running')
    this.#publish()
  }

  /** False when the image cannot be had: the slot is refused. */
  async #ensureImage(held: Held, workload: Workload, signal: AbortSignal): Promise<boolean> {
    if (this.#images.has(workload.image)) return true
    try {
      await this.components.runtime.ensureImage(
        workload.image,
        signal,
        this.components.registryAuth?.(workload.image),
      )
      this.#images.add(workload.image)
      return true
    } catch (err) {
      if (!(err instanceof ImagePullError)) throw err
      // A registry that wants other credentials is no missing image: the user must log in.
      if (err instanceof RegistryAuthError) this.#refuse(held, `${err.message} (on ${this.components.self})`)
      else this.#refuse(held, `image ${workload.image} not found on ${this.components.self}`)
      return false
    }
  }

  /** The name of the slot's container for its current run (`#create` names it so). */
  #nameOf(workload: Workload, promise: SlotPromise): string {
    const run = promise.restarts === undefined ? {} : { run: promise.restarts }
    return containerSpecFor(this.components.self, workload, promise, run).name
  }

  /**
   * Creates the slot's container; one of the same name left by an interrupted start is replaced.
   * `unthrottledStart`: a start that brings a lost replica back, which goes before its CPU limit.
   */
  async #create(
    workload: Workload,
    promise: SlotPromise,
    unthrottledStart: boolean,
    signal: AbortSignal,
  ): Promise<string> {
    const { runtime, self } = this.components
    const dns = this.#containerDns()
    const hostPaths = await this.#hostPaths(workload)
    const base = containerSpecFor(self, workload, promise, {
      ...(dns === undefined ? {} : { dns }),
      hostPaths,
      unthrottledStart,
      ...(promise.restarts === undefined ? {} : { run: promise.restarts }),
    })
    const files = workload.secrets === undefined ? [] : await this.#secretFiles(workload, base.name)
    const spec = files.length === 0 ? base : { ...base, files }
    const created = await runtime.create(spec, signal).catch(async (err) => {
      if (!(err instanceof NameConflictError)) throw err
      const leftover = (await runtime.list({ [LABELS.node]: self }, signal)).find((c) => c.name === spec.name)
      if (leftover !== undefined)
        await runtime
          .remove(leftover.id, signal)
          .catch(swallowed(this.components.logger, 'cannot remove a leftover container', { id: leftover.id }))
      return runtime.create(spec, signal)
    })
    return created.id
  }

  /** The host files that hold the workload's secrets for the container `name`. */
  async #secretFiles(workload: Workload, name: string): Promise<{ source: string; target: string }[]> {
    const files = this.components.secretFiles
    if (files === undefined) throw new SecretUnavailableError('this node delivers no secrets')
    return files.write(workload, name)
  }

  /** Each bind mount's source, resolved and judged by this node; throws HostPathRefusedError. */
  async #hostPaths(workload: Workload): Promise<Map<string, string>> {
    const resolved = new Map<string, string>()
    for (const volume of workload.volumes ?? []) {
      if (volume.source === undefined || resolved.has(volume.source)) continue
      const guard = this.components.hostPaths
      if (guard === undefined)
        throw new HostPathRefusedError(`host path ${volume.source} not allowed on ${this.components.self}`)
      resolved.set(volume.source, await guard.check(volume.source))
    }
    return resolved
  }

  #startFailed(held: Held, workload: Workload, err: Error): void {
    // Trying again would find the same path: the slot goes to a node that allows it.
    if (err instanceof HostPathRefusedError) {
      this.#refuse(held, err.message)
      return
    }
    this.components.logger.warn(
      { workload: held.promise.workload, slot: held.promise.slot, err: err.message },
      'container did not start',
    )
    const decision = decideRestart(
      workload.restart,
      { kind: 'not-started', error: err.message },
      held.restarts,
      this.#backoff,
    )
    if (held.promise.probation === true) this.#refuse(held, `container did not start: ${err.message}`)
    else if (!decision.restart) this.#refuse(held, decision.reason)
    else {
      held.restarts = decision.attempt
      this.#set(held, { phase: 'restarting', ready: false, restarts: (held.promise.restarts ?? 0) + 1 })
      this.#publish()
      this.#operate(held, 'recover', async (signal) => {
        await this.#delay(decision.afterMs, signal)
        await this.#startContainer(held, workload, signal, true)
      })
    }
  }

  /**
   * The slot's container stopped, vanished or failed its health check (`unhealthy`, stopped here
   * first): restart it after a backoff, in a new container, keeping the failed one for `gary logs
   * --previous`; or give the slot up.
   */
  async #recover(
    held: Held,
    workload: Workload,
    container: ContainerSummary | undefined,
    signal: AbortSignal,
    unhealthy?: Extract<SlotFailure, { kind: 'unhealthy' }>,
  ): Promise<void> {
    const { runtime, logger } = this.components
    if (unhealthy !== undefined && container !== undefined)
      await runtime.stop(container.id, this.#stopTimeout, signal).catch((err: Error) => {
        if (!(err instanceof ContainerNotFoundError)) throw err
      })
    const details =
      container === undefined
        ? undefined
        : await runtime
            .inspect(container.id, signal)
            .catch(swallowed(logger, 'cannot inspect a stopped container', { id: container.id }))
    const ranForMs = held.runningSince === undefined ? 0 : this.components.clock.now() - held.runningSince
    held.runningSince = undefined
    held.healthySince = undefined
    const failure: SlotFailure = unhealthy ?? { kind: 'exited', code: details?.exitCode, ranForMs }
    const decision = decideRestart(workload.restart, failure, held.restarts, this.#backoff)
    const exitCode = typeof details?.exitCode === 'number' ? details.exitCode : undefined
    const fields = {
      workload: held.promise.workload,
      slot: held.promise.slot,
      exitCode,
      ...(unhealthy === undefined ? {} : { unhealthy: unhealthy.reason }),
    }
    this.components.record?.({
      kind: 'exited',
      workload: fields.workload,
      slot: fields.slot,
      ...(exitCode === undefined ? {} : { code: exitCode }),
    })
    // What `gary ps` says of the last failure: its exit code, or that its check failed.
    const { exitCode: _code, unhealthy: _unhealthy, ...rest } = held.promise
    held.promise = {
      ...rest,
      ...(exitCode === undefined ? {} : { exitCode }),
      ...(unhealthy === undefined ? {} : { unhealthy: true as const }),
    }
    if (held.promise.probation === true) {
      // On probation, one failure fails the rollout: waiting out the retries would leave it half done.
      this.#refuse(
        held,
        unhealthy === undefined ? exitReason(details?.exitCode, ranForMs) : describeFailure(unhealthy),
      )
      return
    }
    if (!decision.restart) {
      this.#refuse(held, decision.reason)
      return
    }
    held.restarts = decision.attempt
    this.#set(held, { phase: 'restarting', ready: false, restarts: (held.promise.restarts ?? 0) + 1 })
    this.#publish()
    logger.info(
      { ...fields, attempt: decision.attempt, afterMs: decision.afterMs },
      // An unhealthy one was stopped here: it exited too (`unhealthy` says why).
      'container exited: restarting',
    )
    // The failed container is kept, stopped, as the slot's previous one; the one kept before goes.
    if (container !== undefined && container.id !== held.previous?.id) {
      const older = held.previous
      held.previous = { id: container.id, name: container.name }
      if (older !== undefined) await this.#removeContainer(older)
    }
    await this.#delay(decision.afterMs, signal)
    held.prepared = undefined
    await this.#startContainer(held, workload, signal, true)
  }

  async #removeContainer({ id, name }: { id: string; name: string }): Promise<void> {
    this.#removed.add(id)
    await this.components.runtime
      .remove(id)
      .catch(swallowed(this.components.logger, 'cannot remove a container', { id }))
    await this.components.secretFiles?.release(name)
  }

  /**
   * Rule 6: give the slot up for this generation, with the reason, so the rules place it
   * elsewhere. A slot on probation failing fails the rollout (rule 8): the refusal says so, and
   * every node halts it.
   */
  #refuse(held: Held, reason: string): void {
    const { workload, slot, generation } = held.promise
    const rollout = held.promise.probation === true
    this.#hlc = hlcTick(this.#hlc, this.components.clock.wallNow())
    this.#refusals.set(workload, {
      workload,
      generation,
      reason,
      at: this.#hlc,
      ...(rollout ? { rollout: true as const } : {}),
    })
    this.components.logger.warn({ workload, slot, generation, reason, rollout }, 'refused slot')
    this.components.record?.({ kind: 'refused', workload, slot, generation, reason: cut(reason) })
    if (rollout) this.components.onRolloutFailed?.({ workload, slot, generation, reason })
    this.#set(held, { phase: 'failed', ready: false })
    // The refusal is published with the release that follows.
    queueMicrotask(() => this.#release(held, 'refused'))
  }

  #pruneRefusals(workloads: Workload[]): boolean {
    let changed = false
    for (const [name, refusal] of this.#refusals) {
      const workload = workloads.find((w) => w.name === name)
      if (workload !== undefined && generationOf(workload) === refusal.generation) continue
      this.#refusals.delete(name)
      changed = true
    }
    return changed
  }

  #operate(held: Held, kind: OpKind, run: (signal: AbortSignal) => Promise<void>): void {
    const abort = new AbortController()
    const op = { kind, abort, done: Promise.resolve() }
    held.op = op
    op.done = run(abort.signal)
      .catch((err: Error) => {
        if (abort.signal.aborted) return
        this.components.logger.warn(
          { workload: held.promise.workload, slot: held.promise.slot, op: kind, err: err.message },
          'container operation failed',
        )
      })
      .finally(() => {
        if (held.op === op) held.op = undefined
        held.settledAt = ++this.#epoch
        // The operation knows what it did; a listing taken before its end skips this slot.
        this.viewChanged()
      })
  }

  async #removeSlotContainers(promise: SlotPromise): Promise<void> {
    const { runtime, self } = this.components
    const containers = await runtime.list({
      [LABELS.node]: self,
      [LABELS.workload]: promise.workload,
      [LABELS.slot]: String(promise.slot),
      [LABELS.generation]: promise.generation,
    })
    await Promise.all(
      containers.map(async (container) => {
        this.#removed.add(container.id)
        const fields = { id: container.id }
        if (container.state === 'running')
          await runtime
            .stop(container.id, this.#stopTimeout)
            .catch(swallowed(this.components.logger, 'cannot stop a released container', fields))
        await runtime
          .remove(container.id)
          .catch(swallowed(this.components.logger, 'cannot remove a released container', fields))
        await this.components.secretFiles?.release(container.name)
      }),
    )
  }

  #removeStray(container: ContainerSummary): void {
    this.#removing.add(container.id)
    this.components.logger.info(
      {
        container: container.id.slice(0, 12),
        name: container.name,
        labels: parseSlotLabels(container.labels),
      },
      'removing a container no promise accounts for',
    )
    void this.components.runtime
      .remove(container.id)
      .catch(swallowed(this.components.logger, 'cannot remove a stray container', { id: container.id }))
      .then(() => this.components.secretFiles?.release(container.name))
      .finally(() => this.#removing.delete(container.id))
  }

  #adopt(container: ContainerSummary): void {
    const slot = parseSlotLabels(container.labels)
    if (slot === undefined || container.state !== 'running') return
    const key = heldKey(slot.workload, slot.slot, slot.generation)
    const other = this.#held.get(key)
    // Two containers for one slot and generation: the older claim keeps it, the other is a stray.
    if (other !== undefined && hlcCompare(other.promise.since, slot.since) <= 0) return
    if (hlcCompare(slot.since, this.#hlc) > 0) this.#hlc = slot.since
    this.#held.set(key, {
      restarts: 0,
      settledAt: 0,
      runningSince: this.components.clock.now(),
      promise: {
        workload: slot.workload,
        slot: slot.slot,
        generation: slot.generation,
        phase: 'running',
        since: slot.since,
        ready: true,
        endpoints: [],
        container: container.id,
      },
    })
    this.components.logger.info(
      { workload: slot.workload, slot: slot.slot, container: container.id.slice(0, 12) },
      'adopted a running container',
    )
  }

  #isSlotContainer(container: ContainerSummary, promise: SlotPromise): boolean {
    return (
      container.labels[LABELS.workload] === promise.workload &&
      container.labels[LABELS.slot] === String(promise.slot) &&
      container.labels[LABELS.generation] === promise.generation
    )
  }

  /**
   * Changes the promise (a new object, so that readers holding the old one see the change by
   * identity); false if nothing differs. Compared field by field: serialising the whole promise
   * twice for each held slot on each pass was 4 % of a simulated partition at 300 nodes.
   */
  #set(held: Held, change: Partial<SlotPromise>): boolean {
    const current = held.promise as unknown as Record<string, unknown>
    const differs = Object.entries(change).some(([key, value]) => {
      const old = current[key]
      if (old === value) return false
      return typeof value !== 'object' || JSON.stringify(old) !== JSON.stringify(value)
    })
    if (!differs) return false
    if (change.ready === true && !held.promise.ready) {
      const { workload, slot, generation } = held.promise
      this.components.record?.({ kind: 'ready', workload, slot, generation })
    }
    held.promise = { ...held.promise, ...change }
    return true
  }

  /**
   * Publishes own promises `coalesceMs` after the first change, with whatever else changed by
   * then: the containers of a deploy start within a few ms of each other, and publishing each
   * start alone cost every member a message per container (12 states per node for a deploy of
   * ten slots, in the simulator). A change that can wait asks for a later `delayMs`; a pressing
   * one brings a publish already scheduled forward.
   */
  #publish(delayMs = this.#coalesceMs): void {
    if (this.#stopped) return
    const { clock } = this.components
    const due = clock.now() + delayMs
    if (this.#publishDue !== undefined && this.#publishDue <= due) return
    clock.clearTimeout(this.#publishTimer)
    this.#publishDue = due
    this.#publishTimer = clock.setTimeout(() => {
      this.#publishDue = undefined
      if (this.#stopped) return
      const seenDead = this.seenDead
      this.components.publish(this.promises, this.refusals, seenDead.length > 0 ? seenDead : undefined)
    }, delayMs)
  }

  /**
   * One timer for the earliest moment a pass has something new to do: a claim settles, a partial
   * view may have ended, or the resync.
   */
  #arm(): void {
    const { clock } = this.components
    const wall = clock.wallNow()
    // Rule 10's verdict moves with time and with connections made, neither of which makes the
    // loop look again: a node that saw itself partial after 30 % of the cluster crashed kept
    // its hands off until the resync, 5 s later (simulated, with ring shards).
    let delay = this.#partial ? Math.min(PARTIAL_RECHECK_MS, this.#resyncMs) : this.#resyncMs
    const now = clock.now()
    for (const held of this.#held.values()) {
      if (held.recheckAt !== undefined) delay = Math.min(delay, Math.max(0, held.recheckAt - now) + 1)
      // A slot on probation is looked at again when its monitor may have passed.
      if (held.readySince !== undefined && held.promise.probation === true) {
        const monitorMs = this.#monitorMs.get(held.promise.workload) ?? 0
        delay = Math.min(delay, Math.max(0, held.readySince + monitorMs - now) + 1)
      }
      // A claim whose container is still being created starts when the creation ends (that end
      // makes the loop look again): timed at its settle, a claim that settled while the engine was
      // slow to create made the loop list and plan every millisecond until it was done.
      if (held.promise.phase !== 'claimed' || held.op !== undefined) continue
      delay = Math.min(delay, Math.max(0, held.promise.since.wall + this.#config.settleMs - wall) + 1)
    }
    clock.clearTimeout(this.#timer)
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined
      this.trigger()
    }, delay)
  }

  #delay(ms: number, signal: AbortSignal): Promise<void> {
    const { clock } = this.components
    return new Promise((resolve, reject) => {
      signal.throwIfAborted()
      const handle = clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }, ms)
      const onAbort = () => {
        clock.clearTimeout(handle)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}

/** Why a slot on probation failed, in one sentence. */
function exitReason(code: number | undefined, ranForMs: number): string {
  const after = `after ${(ranForMs / 1000).toFixed(1)} s`
  return code === undefined ? `container stopped ${after}` : `container exited with code ${code} ${after}`
}
/** A reason as an event carries it. */
const cut = (reason: string) =>
  reason.length <= MAX_EVENT_REASON_CHARS ? reason : `${reason.slice(0, MAX_EVENT_REASON_CHARS - 1)}…`
