import type { SlotPromise } from '../node-state.js'
import type { ClaimIndex } from './claim-index.js'
import { ownPromises } from './classify.js'
import { explainLocal } from './local-reasons.js'
import { type LocalClaim, type LocalSlot, LocalView, refused, slotsIn, welcomes } from './local-view.js'
import { emptyOutcome } from './outcome.js'
import type {
  PlacementConfig,
  PlacementNode,
  PlacementView,
  Plan,
  ReleaseReason,
  SelfAction,
} from './types.js'
import { globalSlotKey, slotKey } from './types.js'
import { isClaimant } from './winners.js'
import { describeWorkloads, type WorkloadInfo } from './workloads.js'

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
  const workloads = describeWorkloads(view.workloads)
  const byName = new Map(workloads.map((w) => [w.name, w]))
  const own = ownPromises(selfNode.promises).sort((a, b) =>
    a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : a.slot - b.slot,
  )
  const local = new LocalView(selfNode, index, byName, own, config.shards)
  const holdBack = view.partialView && view.partialViewForMs < config.partialViewGraceMs
  const room = new Room(selfNode, local.usage(selfNode))
  const unplaceable: { workload: WorkloadInfo; key: string; slot: number }[] = []

  const releases: SelfAction[] = []
  const starts: SelfAction[] = []
  const keeps: SelfAction[] = []
  const claims: SelfAction[] = []
  const release = (p: SlotPromise, reason: ReleaseReason) =>
    releases.push({ kind: 'release', workload: p.workload, slot: p.slot, reason })
  const claim = (workload: WorkloadInfo, slot: number) => {
    claims.push({ kind: 'claim', workload: workload.name, slot, generation: workload.generation })
    const key = workload.global ? globalSlotKey(workload.name, view.self) : slotKey(workload.name, slot)
    out.assignment.set(key, view.self)
    out.buckets.placed.push(key)
  }
  const startOrKeep = (p: SlotPromise) => {
    if (p.phase === 'claimed' && p.since.wall <= view.nowWall - config.settleMs)
      starts.push({ kind: 'start', workload: p.workload, slot: p.slot, generation: p.generation })
    else keeps.push({ kind: 'keep', workload: p.workload, slot: p.slot })
  }
  const keepCurrent = (workload: WorkloadInfo, p: SlotPromise) => {
    if (p.generation === workload.generation || holdBack || !mayUpdate(local, workload, p)) {
      startOrKeep(p)
      return
    }
    if (!refused(selfNode, workload) && !room.overCommitted()) {
      release(p, 'updating')
      claim(workload, p.slot)
    } else if (!workload.global && local.walk(workload, p.slot, config.candidates, view.self) !== undefined) {
      release(p, 'updating') // the slot is free now: its walk places it elsewhere
    } else {
      keeps.push({ kind: 'keep', workload: p.workload, slot: p.slot })
      out.buckets['update-blocked'].push(slotKey(p.workload, p.slot))
    }
  }

  // This node's promises (rules 2, 3, 5, 7, 8).
  const heldGlobal = new Set<string>()
  for (const p of own) {
    const workload = byName.get(p.workload)
    const stray =
      workload === undefined
        ? 'deleted'
        : (workload.global ? p.slot !== 0 : p.slot >= workload.replicas)
          ? 'scaled-down'
          : undefined
    if (stray !== undefined) {
      if (p.phase !== 'releasing') release(p, stray)
      continue
    }
    if (!isClaimant(p)) continue
    const w = workload as WorkloadInfo
    if (w.global) {
      heldGlobal.add(w.name)
      if (selfNode.draining) release(p, 'drained')
      else if (!welcomes(selfNode, w)) release(p, 'ineligible')
      else keepCurrent(w, p)
      continue
    }
    const state = local.slot(w, p.slot)
    const holder = state.claims[0] as LocalClaim
    if (holder.nodeId === view.self) {
      if (state.displaced === 'ineligible') release(p, 'ineligible')
      else if (state.displaced === 'draining') {
        if (state.successor?.promise.phase === 'running') release(p, 'drained')
        else startOrKeep(p)
      } else keepCurrent(w, p)
    } else if (state.current?.nodeId === view.self) keepCurrent(w, p)
    else release(p, 'lost')
  }

  // Free slots this node can win (rules 4, 9), and its share of the unschedulable ones (rule 6).
  for (const workload of workloads) {
    if (workload.global) {
      if (heldGlobal.has(workload.name) || !welcomes(selfNode, workload)) continue
      if (!refused(selfNode, workload) && room.fits(workload)) {
        if (!holdBack) {
          room.take(workload)
          claim(workload, 0)
        }
      } else unplaceable.push({ workload, slot: 0, key: globalSlotKey(workload.name, view.self) })
      continue
    }
    const arc = holdBack ? undefined : local.arc(workload, config.candidates)
    const arcs =
      arc === 'all' ? [arc] : [arc, holdBack ? undefined : local.wrapArc(workload, config.candidates)]
    for (const slot of arcs.flatMap((range) => (range === undefined ? [] : slotsIn(workload, range)))) {
      if (!local.decides(workload, slot)) continue
      const state = local.slot(workload, slot)
      if (state.current !== undefined) continue
      if (local.walk(workload, slot, config.candidates) !== view.self || !room.fits(workload)) continue
      room.take(workload)
      claim(workload, slot)
    }
    for (const slot of slotsIn(workload, local.homeArc())) {
      const state: LocalSlot = local.slot(workload, slot)
      if (state.current === undefined && local.walk(workload, slot, config.candidates) === undefined)
        unplaceable.push({ workload, slot, key: state.key })
    }
  }

  claims.sort((a, b) => (a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : a.slot - b.slot))
  const unschedulable = explainLocal(local, unplaceable)
  for (const u of unplaceable) out.buckets.unschedulable.push(u.key)
  return {
    actions: [...releases, ...starts, ...keeps, ...claims],
    assignment: out.assignment,
    unschedulable,
    buckets: out.buckets,
  }
}

/**
 * Rule 8 in waves: an outdated slot that serves may be replaced once every slot of the wave
 * before it (slots `(k-1)m .. km-1` for wave k and `maxUnavailable` m; a global workload's
 * waves follow the ring order of the nodes it runs on) runs the new generation and is ready.
 * A slot that does not serve is replaced at once: taking it down costs nothing. With ring shards
 * the waves are counted within the slot's shard (a global workload's, within the node's), the
 * only slots whose promises reach this node: `maxUnavailable` then bounds each shard.
 */
function mayUpdate(local: LocalView, workload: WorkloadInfo, p: SlotPromise): boolean {
  if (!(p.phase === 'running' && p.ready)) return true
  const m = workload.maxUnavailable
  const updated = (c: LocalClaim | undefined) =>
    c !== undefined &&
    c.promise.generation === workload.generation &&
    c.promise.phase === 'running' &&
    c.promise.ready
  if (!workload.global) {
    for (const slot of previousWave(local, workload, p.slot, m))
      if (!updated(local.slot(workload, slot).current)) return false
    return true
  }
  const order = local.ring.ids.filter((id) => {
    const node = local.node(id)
    return node !== undefined && welcomes(node, workload) && local.sameShard(id)
  })
  const wave = Math.floor(order.indexOf(local.self.id) / m)
  for (const id of order.slice(Math.max(0, (wave - 1) * m), wave * m)) {
    const node = local.node(id) as PlacementNode
    const promise = node.promises.find((q) => q.workload === workload.name && q.slot === 0 && isClaimant(q))
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
  const shard = local.slotShard(workload, slot)
  const peers = slotsIn(workload, 'all')
    .filter((s) => local.slotShard(workload, s) === shard)
    .sort((a, b) => a - b)
  const wave = Math.floor(peers.indexOf(slot) / m)
  return wave === 0 ? [] : peers.slice((wave - 1) * m, wave * m)
}

/** This node's room: its published usage plus what it claims in this pass. */
class Room {
  #cpu: number
  #memory: number

  constructor(
    private readonly node: PlacementNode,
    usage: { cpu: number; memory: number },
  ) {
    this.#cpu = usage.cpu
    this.#memory = usage.memory
  }

  fits(workload: WorkloadInfo): boolean {
    return (
      this.#cpu + workload.cpuMillis <= this.node.capacity.cpuMillis &&
      this.#memory + workload.memoryBytes <= this.node.capacity.memoryBytes
    )
  }

  take(workload: WorkloadInfo): void {
    this.#cpu += workload.cpuMillis
    this.#memory += workload.memoryBytes
  }

  overCommitted(): boolean {
    return this.#cpu > this.node.capacity.cpuMillis || this.#memory > this.node.capacity.memoryBytes
  }
}
