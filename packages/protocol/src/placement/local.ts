import type { SlotPromise } from '../node-state.js'
import { fits, overCommitted, type Used } from './capacity.js'
import type { ClaimIndex } from './claim-index.js'
import { type ClaimRule, placedBecause } from './claim-rule.js'
import { ownPromises } from './classify.js'
import { compareSlots, entry } from './compare.js'
import { earlyStarts } from './early.js'
import { explainLocal } from './local-reasons.js'
import { type LocalClaim, type LocalSlot, LocalView, slotsIn } from './local-view.js'
import { emptyOutcome } from './outcome.js'
import { decideOwn, SelfActionList } from './own.js'
import { stopsOwn, takesNewWork } from './partition.js'
import { refuses } from './refusals.js'
import { counted, halted, serves } from './rollout.js'
import { promiseSlotKey } from './slots.js'
import { SoleCandidates } from './sole.js'
import { currentOf, judge } from './standing.js'
import {
  globalSlotKey,
  type PlacementConfig,
  type PlacementNode,
  type PlacementView,
  type Plan,
} from './types.js'
import { shardPeers } from './waves.js'
import { isClaimant } from './winners.js'
import { describeWorkloads, matchesConstraints, type WorkloadInfo, welcomes } from './workloads.js'

/**
 * The placement rules for a large cluster, decided slot by slot (docs/design.md, "Placement in
 * large clusters"). A free slot goes to the best of the first `candidates` nodes on its ring walk
 * that, by the promises they publish, have room; nothing reserved for another slot in the pass
 * counts, so every node that sees the same claims and usage for a slot decides it alike, and a
 * node plans only the slots it can win (its arc) and the slots it holds: a pass costs
 * O(own slots x candidates), not O(all slots). A node claims only what fits its own capacity;
 * a slot chosen for a node that has filled up since it last published is placed again once it
 * publishes. Rolling updates go in waves of `maxUnavailable` slots, each once the wave before
 * runs the new generation and is ready. `assignment` and `buckets` cover only what this node
 * decided.
 */
export function planLocal(view: PlacementView, config: PlacementConfig, index: ClaimIndex): Plan {
  const out = emptyOutcome()
  const selfNode = view.nodes.findLast((node) => node.id === view.self)
  if (selfNode === undefined)
    return { actions: [], assignment: out.assignment, unschedulable: [], buckets: out.buckets }
  const workloads = describeWorkloads(view.workloads, config)
  const byName = new Map(workloads.map((w) => [w.name, w]))
  const own = ownPromises(selfNode.promises).sort(compareSlots)
  const local = new LocalView(selfNode, index, byName, own, config.shards)
  // Rule 10: cut off from most of the cluster, each workload does what its partition policy says.
  const holdsBack = (workload: WorkloadInfo) => !takesNewWork(workload.partition, view)
  const room = new Room(selfNode, local.usage(selfNode))
  const unplaceable: { workload: WorkloadInfo; key: string; slot: number }[] = []
  const actions = new SelfActionList(view.nowWall, config.settleMs)
  // With shards the view holds the neighbourhood only: a rival may be out of it.
  const sole = new SoleCandidates(
    config.shards > 1
      ? undefined
      : (workload) =>
          view.nodes.some(
            (node) => node.id !== view.self && matchesConstraints(node, workload) && !refuses(node, workload),
          ),
  )

  const early = earlyStarts(
    view,
    config.shards > 1 ? undefined : () => view.nodes.filter((node) => node.id !== view.self),
  )

  const claim = (workload: WorkloadInfo, slot: number, because: ClaimRule, rollout = false) => {
    actions.claim(workload, slot, because, rollout)
    const key = promiseSlotKey(workload.global, { workload: workload.name, slot }, view.self)
    out.assignment.set(key, view.self)
    out.buckets.placed.push(key)
  }
  const stopped = new Map<string, boolean>()
  const isHalted = (workload: WorkloadInfo) =>
    entry(stopped, workload.name, () => halted(nodesOf(local), workload))
  const keepCurrent = (workload: WorkloadInfo, p: SlotPromise) => {
    if (
      p.generation === workload.generation ||
      holdsBack(workload) ||
      !mayUpdate(local, workload, p, isHalted)
    ) {
      actions.startOrKeep(p, sole.of(workload), early(workload, p))
      return
    }
    const mayRun = !refuses(selfNode, workload)
    // Start-first: the successor starts beside the old slot, which stops once it serves (rule 8).
    // With no room here for both, the slot is replaced stop-first: no other node takes a slot
    // that is not free.
    if (serves(p) && workload.order === 'start-first' && mayRun && room.fits(workload)) {
      room.take(workload)
      actions.keep(p)
      claim(workload, p.slot, { rule: 'update', wave: updateWave(local, workload, p.slot) }, true)
    } else if (mayRun && !room.overCommitted()) {
      actions.release(p, 'updating')
      claim(workload, p.slot, { rule: 'update', wave: updateWave(local, workload, p.slot) }, true)
    } else if (!workload.global && local.walk(workload, p.slot, config.candidates, view.self) !== undefined) {
      actions.release(p, 'updating') // the slot is free now: its walk places it elsewhere
    } else {
      actions.keep(p)
      out.buckets['update-blocked'].push(promiseSlotKey(workload.global, p, view.self))
    }
  }

  // This node's promises (rules 2, 3, 5, 7, 8).
  const heldGlobal = new Set<string>()
  decideOwn(
    own,
    byName,
    view.self,
    (workload, p): LocalSlot => {
      if (!workload.global) return local.slot(workload, p.slot)
      heldGlobal.add(workload.name)
      const state: LocalSlot = {
        key: promiseSlotKey(true, p, view.self),
        slot: 0,
        claims: [{ nodeId: view.self, node: selfNode, promise: p }],
      }
      judge(state, (c) => c.node, workload)
      return state
    },
    keepCurrent,
    actions,
    holdsBack,
    (workload) => stopsOwn(workload.partition, view),
  )

  // Free slots this node can win (rules 4, 9), and its share of the unschedulable ones (rule 6).
  for (const workload of workloads) {
    if (workload.global) {
      if (heldGlobal.has(workload.name) || !welcomes(selfNode, workload)) continue
      if (!refuses(selfNode, workload) && room.fits(workload)) {
        if (!holdsBack(workload)) {
          room.take(workload)
          claim(workload, 0, { rule: 'free' })
        }
      } else unplaceable.push({ workload, slot: 0, key: globalSlotKey(workload.name, view.self) })
      continue
    }
    const holdBack = holdsBack(workload)
    const arc = holdBack ? undefined : local.arc(workload, config.candidates)
    const arcs =
      arc === 'all' ? [arc] : [arc, holdBack ? undefined : local.wrapArc(workload, config.candidates)]
    for (const slot of arcs.flatMap((range) => (range === undefined ? [] : slotsIn(workload, range)))) {
      if (!local.decides(workload, slot)) continue
      const state = local.slot(workload, slot)
      if (currentOf(state) !== undefined) continue
      if (local.walk(workload, slot, config.candidates) !== view.self || !room.fits(workload)) continue
      room.take(workload)
      claim(workload, slot, placedBecause(state))
    }
    for (const slot of slotsIn(workload, local.homeArc())) {
      const state = local.slot(workload, slot)
      if (currentOf(state) !== undefined || local.walk(workload, slot, config.candidates) !== undefined)
        continue
      // As in the exact pass, a draining node keeps a slot no successor can take: not unschedulable.
      if (state.displaced === 'draining') out.buckets['drain-blocked'].push(state.key)
      else unplaceable.push({ workload, slot, key: state.key })
    }
  }

  const unschedulable = explainLocal(local, unplaceable, room)
  for (const u of unplaceable) out.buckets.unschedulable.push(u.key)
  return { actions: actions.list(), assignment: out.assignment, unschedulable, buckets: out.buckets }
}

/**
 * Rule 8 in waves: an outdated slot that serves may be replaced once every slot of the wave
 * before it (slots `(k-1)m .. km-1` for wave k and `maxUnavailable` m; a global workload's
 * waves follow the ring order of the nodes it runs on) counts as updated (`counted`: it serves
 * the new generation and is off probation), and while no node says the rollout failed.
 * A slot that does not serve is replaced at once: taking it down costs nothing. With ring shards
 * the waves are counted within the slot's shard (a global workload's, within the node's), the
 * only slots whose promises reach this node: `maxUnavailable` then bounds each shard.
 */
function mayUpdate(
  local: LocalView,
  workload: WorkloadInfo,
  p: SlotPromise,
  isHalted: (workload: WorkloadInfo) => boolean,
): boolean {
  if (!serves(p)) return true
  if (isHalted(workload)) return false
  const m = workload.maxUnavailable
  const updated = (c: LocalClaim | undefined) => c !== undefined && counted(c.promise, workload)
  if (!workload.global) {
    for (const slot of previousWave(local, workload, p.slot, m))
      if (!updated(currentOf(local.slot(workload, slot)))) return false
    return true
  }
  const order = local.ring.ids.filter((id) => {
    const node = local.node(id)
    return node !== undefined && welcomes(node, workload) && local.sameShard(id)
  })
  const wave = Math.floor(order.indexOf(local.self.id) / m)
  for (const id of order.slice(Math.max(0, (wave - 1) * m), wave * m)) {
    const node = local.node(id) as PlacementNode
    // The node's successor at the new generation, if it has one beside the old slot.
    const mine = (q: SlotPromise) => q.workload === workload.name && q.slot === 0 && isClaimant(q)
    const promise =
      node.promises.find((q) => mine(q) && q.generation === workload.generation) ?? node.promises.find(mine)
    if (!updated(promise === undefined ? undefined : { nodeId: id, node, promise })) return false
  }
  return true
}

/** The slots of the wave before `slot`'s: by slot number, within its shard when there are shards. */
function previousWave(local: LocalView, workload: WorkloadInfo, slot: number, m: number): number[] {
  if (local.shards <= 1) {
    const wave = Math.floor(slot / m)
    return wave === 0 ? [] : Array.from({ length: m }, (_, i) => (wave - 1) * m + i)
  }
  const { peers, at } = shardPeers(workload.name, workload.replicas, local.shards, slot)
  const wave = Math.floor(at / m)
  return wave === 0 ? [] : Array.from(peers.slice((wave - 1) * m, wave * m))
}

/**
 * The update wave (from 1) of this node's `slot` of `workload`, as `mayUpdate` counts them, for
 * people: slots by number (within the slot's shard), a global workload's nodes in ring order.
 */
function updateWave(local: LocalView, workload: WorkloadInfo, slot: number): number {
  const m = workload.maxUnavailable
  if (workload.global) {
    const order = local.ring.ids.filter((id) => {
      const node = local.node(id)
      return node !== undefined && welcomes(node, workload) && local.sameShard(id)
    })
    return Math.floor(Math.max(0, order.indexOf(local.self.id)) / m) + 1
  }
  if (local.shards <= 1) return Math.floor(slot / m) + 1
  return Math.floor(shardPeers(workload.name, workload.replicas, local.shards, slot).at / m) + 1
}

/** This node and every node of its index: whose refusals may halt a rollout. */
function* nodesOf(local: LocalView): Generator<PlacementNode> {
  yield local.self
  for (const id of local.index.ids()) {
    const node = local.index.get(id)
    if (node !== undefined && id !== local.self.id) yield node
  }
}

/** This node's room: its published usage plus what it claims in this pass. */
export class Room {
  #cpu: number
  #memory: number
  readonly #ports: Set<string>

  constructor(
    private readonly node: PlacementNode,
    usage: Used,
  ) {
    this.#cpu = usage.cpu
    this.#memory = usage.memory
    this.#ports = new Set(usage.ports)
  }

  /** What is used, for rule 6's reasons. */
  get used(): Used {
    return { cpu: this.#cpu, memory: this.#memory, ports: this.#ports }
  }

  fits(workload: WorkloadInfo): boolean {
    return fits(this.node.capacity, this.used, workload)
  }

  take(workload: WorkloadInfo): void {
    this.#cpu += workload.cpuMillis
    this.#memory += workload.memoryBytes
    for (const port of workload.hostPorts) this.#ports.add(port)
  }

  overCommitted(): boolean {
    return overCommitted(this.node.capacity, this.#cpu, this.#memory)
  }
}
