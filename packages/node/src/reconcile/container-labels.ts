import { HeldVolumeSchema, type Hlc, isHlc } from '@gary/protocol'

/** Labels every Gary container carries: a node only ever touches containers with its own id. */
export const LABELS = {
  node: 'gary.node',
  workload: 'gary.workload',
  slot: 'gary.slot',
  generation: 'gary.generation',
  /** The claim's timestamp, so that a restarted daemon re-adopts the promise with its rank. */
  since: 'gary.since',
  /** On a named volume: its name in the workload's spec. */
  volume: 'gary.volume',
} as const

/** What a container's labels say it keeps. */
export interface ContainerSlot {
  workload: string
  slot: number
  generation: string
  since: Hlc
}

export function slotLabels(node: string, slot: ContainerSlot): Record<string, string> {
  return {
    [LABELS.node]: node,
    [LABELS.workload]: slot.workload,
    [LABELS.slot]: String(slot.slot),
    [LABELS.generation]: slot.generation,
    [LABELS.since]: `${slot.since.wall}.${slot.since.logical}`,
  }
}

/** Reads back `slotLabels`; undefined when a label is missing or malformed (the container is a stray). */
export function parseSlotLabels(labels: Record<string, string>): ContainerSlot | undefined {
  const workload = labels[LABELS.workload]
  const generation = labels[LABELS.generation]
  const slot = Number(labels[LABELS.slot])
  const since = /^(\d+)\.(\d+)$/.exec(labels[LABELS.since] ?? '')
  if (workload === undefined || generation === undefined || since === null) return undefined
  if (!Number.isSafeInteger(slot) || slot < 0) return undefined
  // Anyone with access to the engine can label a container: a value out of the codec's range
  // would make this node's own state unencodable, and every peer refuse it.
  if (workload === '' || workload.length > 63 || generation === '' || generation.length > 64) return undefined
  const at = { wall: Number(since[1]), logical: Number(since[2]) }
  if (!isHlc(at)) return undefined
  return { workload, slot, generation, since: at }
}

/**
 * One name per node, slot, generation and run (`run` restarts before it), so that a retried start finds its own container
 * instead of making a second one. Several nodes may share one engine, hence the node's id in it.
 */
export function containerName(node: string, slot: ContainerSlot, run = 0): string {
  // A restart's generation is the same hash with `.N` after it: the suffix keeps its name apart.
  const dot = slot.generation.indexOf('.')
  const generation = slot.generation.slice(0, 8) + (dot === -1 ? '' : slot.generation.slice(dot))
  // Each restart of the slot's container is a new container (the failed one is kept beside it).
  return `gary-${slot.workload}-${slot.slot}-${node.slice(-10)}-${generation}${run === 0 ? '' : `-r${run}`}`
}

/**
 * The engine's name of a slot's named volume on this node: the same for every generation and
 * every container of the slot, so that data outlives them; the node's id in it, as several nodes
 * may share one engine.
 */
export function volumeName(node: string, workload: string, slot: number, name: string): string {
  return `gary-${workload}-${slot}-${name}-${node.slice(-10)}`
}

/**
 * What a volume's labels say it is; undefined when a label is missing or malformed. Anyone with
 * access to the engine can label a volume: what this returns goes into the node's own state,
 * which every peer must accept.
 */
export function parseVolumeLabels(
  labels: Record<string, string>,
): { workload: string; slot: number; name: string } | undefined {
  const slotText = labels[LABELS.slot] ?? ''
  const held = {
    workload: labels[LABELS.workload],
    slot: /^\d{1,15}$/.test(slotText) ? Number(slotText) : -1,
    name: labels[LABELS.volume],
    inUse: false,
  }
  if (!HeldVolumeSchema.safeParse(held).success) return undefined
  return { workload: held.workload as string, slot: held.slot, name: held.name as string }
}
