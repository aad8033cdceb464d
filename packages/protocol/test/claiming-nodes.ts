import fc from 'fast-check'
import { expect } from 'vitest'
import {
  globalSlotKey,
  type Hlc,
  openingKey,
  opensGeneration,
  type PlacementConfig,
  type PlacementNode,
  plan,
  type SelfAction,
  type SlotPromise,
  slotKey,
  type Workload,
} from '../src/index.js'
import { claimedPromise, GI } from './placement-builders.js'

// Nodes that pass, publish a state after each pass and receive each other's states late, out of
// order or not at all, for the property tests of the exceptions to rule 5's settle delay
// (`AnsweredClaims`, `FailoverClaims`): whatever the order, no slot may start early on two nodes.

export type StartAction = Extract<SelfAction, { kind: 'start' }>

export const isStart = (a: SelfAction): a is StartAction => a.kind === 'start'

/** A node as its reconcile loop keeps it: its state, and what only it knows of its claims. */
export interface Actor {
  self: PlacementNode
  /** The members it holds dead (indexes). */
  dead: Set<number>
  /** The deaths it acted on (`seenDead`), in order, every one it ever did. */
  seenDead: string[]
  /** Generations (`workload/generation`) it ever claimed a slot of. */
  claimed: Set<string>
  /** Keys of its opening claims, of its failover claims, and the stamps of both. */
  opening: Set<string>
  failover: Set<string>
  stamps: Map<string, readonly string[]>
  /** The state of each other node as it last received it (an index into that node's states). */
  seen: number[]
  logical: number
}

/** The nodes of a run: each actor, and every state each one published (the first: its start). */
export class ClaimingNodes {
  readonly actors: Actor[]
  readonly states: PlacementNode[][]
  /** Which node started each slot early. */
  readonly #startedBy = new Map<string, string>()

  constructor(
    nodes: readonly PlacementNode[],
    private readonly workloads: readonly Workload[],
    private readonly config: Partial<PlacementConfig>,
    /** Per (node, other node): 1 shows the other draining when it is not (or the reverse), 2 full. */
    private readonly flips: readonly number[],
  ) {
    this.states = nodes.map((n) => [n])
    this.actors = nodes.map((n) => ({
      self: n,
      dead: new Set(),
      seenDead: [],
      claimed: new Set(),
      opening: new Set(),
      failover: new Set(),
      stamps: new Map(),
      seen: nodes.map(() => 0),
      logical: 0,
    }))
  }

  /** Every other node's latest state reaches `to`. */
  everything(to: number): void {
    const actor = this.actors[to] as Actor
    actor.seen = this.states.map((published) => published.length - 1)
  }

  /** `from`'s next state (or one `skip` states later) reaches `to`. */
  deliver(to: number, from: number, skip: number): void {
    const actor = this.actors[to] as Actor
    const published = (this.states[from] as PlacementNode[]).length - 1
    actor.seen[from] = Math.min(published, (actor.seen[from] as number) + 1 + skip)
  }

  /**
   * One reconcile pass of node `i` at `now`: it acts on the deaths it holds and not yet acted on
   * (`deathOf` names them; the pass's claims are then failover ones), plans over the states it
   * received, publishes its new state, and fails the test if it starts early a slot another
   * node started early. Returns its early starts.
   */
  pass(i: number, now: number, deathOf: (member: number) => string = String): StartAction[] {
    const actor = this.actors[i] as Actor
    // Views differ beyond what was delivered: each node sees some others drain, or full, when
    // they do not (or the reverse), as a state it has not received yet would say.
    const others = this.actors.flatMap((_, o) => {
      if (o === i || actor.dead.has(o)) return []
      const state = (this.states[o] as PlacementNode[])[actor.seen[o] as number] as PlacementNode
      const flip = this.flips[i * 6 + o]
      if (flip === 1) return [{ ...state, draining: !state.draining }]
      if (flip === 2) return [{ ...state, capacity: { cpuMillis: 100, memoryBytes: GI } }]
      return [state]
    })
    let added = false
    for (const member of actor.dead) {
      const key = deathOf(member)
      if (actor.seenDead.includes(key)) continue
      actor.seenDead.push(key)
      added = true
    }
    const young = (keys: Set<string>) =>
      new Set(
        actor.self.promises
          .filter((p) => p.phase === 'claimed')
          .map((p) => openingKey(p.workload, p.slot, p.generation))
          .filter((key) => keys.has(key)),
      )
    const result = plan(
      {
        self: actor.self.id,
        workloads: [...this.workloads],
        nodes: [...others, actor.self],
        nowWall: now,
        partialView: false,
        partialViewForMs: 0,
        openingClaims: young(actor.opening),
        failoverClaims: young(actor.failover),
        claimStamps: actor.stamps,
      },
      this.config,
    )
    let promises = [...actor.self.promises]
    const opens = new Map<string, boolean>()
    const early: StartAction[] = []
    for (const action of result.actions) {
      const same = (p: SlotPromise) =>
        p.workload === action.workload &&
        p.slot === action.slot &&
        (action.kind === 'keep' || p.generation === action.generation)
      if (action.kind === 'release') promises = promises.filter((p) => !same(p))
      if (isStart(action)) {
        promises = promises.map((p) => (same(p) ? { ...p, phase: 'starting' } : p))
        if (!action.unsettled) continue
        const global = this.workloads.find((w) => w.name === action.workload)?.mode === 'global'
        const key = global
          ? globalSlotKey(action.workload, actor.self.id)
          : slotKey(action.workload, action.slot)
        expect(
          this.#startedBy.get(key),
          `${key} started early by ${this.#startedBy.get(key)} and ${actor.self.id}`,
        ).toBeUndefined()
        this.#startedBy.set(key, actor.self.id)
        early.push(action)
      }
      if (action.kind === 'claim') {
        const generation = `${action.workload}/${action.generation}`
        let opening = opens.get(generation)
        if (opening === undefined) {
          opening =
            action.rollout !== true &&
            !actor.claimed.has(generation) &&
            opensGeneration(actor.self, action.workload, action.generation)
          opens.set(generation, opening)
        }
        actor.claimed.add(generation)
        const key = openingKey(action.workload, action.slot, action.generation)
        if (opening) actor.opening.add(key)
        if (added) actor.failover.add(key)
        if ((opening || added) && actor.seenDead.length > 0) actor.stamps.set(key, [...actor.seenDead])
        promises.push(claimedPromise(action, { wall: now, logical: actor.logical++ }))
      }
    }
    actor.self = { ...actor.self, promises, seenDead: [...actor.seenDead] }
    ;(this.states[i] as PlacementNode[]).push(actor.self)
    return early
  }
}

/** Deliveries between the nodes: one state, or every latest one, to one node. */
export const deliveries = [
  fc.record({ to: fc.nat(29), from: fc.nat(29), skip: fc.nat(2) }, { noNullPrototype: true }),
  fc.record({ everything: fc.nat(29) }, { noNullPrototype: true }),
] as const

/** Per (node, other node) for `ClaimingNodes`: which other node each node sees drain or full. */
export const viewFlips = fc.array(fc.nat(19), { minLength: 36, maxLength: 36 })

/** The claims `self` makes in one pass over `nodes` at `now`, as promises made at `since`. */
export function claimsIn(
  self: string,
  workloads: Workload[],
  nodes: PlacementNode[],
  config: Partial<PlacementConfig>,
  now: number,
  since: Hlc,
): SlotPromise[] {
  const view = { self, workloads, nodes, nowWall: now, partialView: false, partialViewForMs: 0 }
  return plan(view, config)
    .actions.filter((a): a is Extract<SelfAction, { kind: 'claim' }> => a.kind === 'claim')
    .map((a) => claimedPromise(a, since))
}
