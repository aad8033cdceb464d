import type { HeldVolume } from '@gary/protocol'
import type { ContainerRuntime } from '@gary/runtime'
import { volumeName } from '../reconcile/container-labels.js'

/** Which volumes `gary volume rm` means: all of a workload's, one slot's, or one by name. */
export interface VolumeSelector {
  workload: string
  slot?: number
  name?: string
}

/** One volume as `gary volume ls` shows it. */
export interface VolumeRow extends HeldVolume {
  node: string
  /** The member's state as this node sees it: a dead node's volumes stay on its disk. */
  state: string
}

export type RemoveOutcome =
  | { ok: true; removed: string[] }
  /** `elsewhere`: none here, these nodes hold some. `in-use`: a container here mounts one. */
  | { ok: false; kind: 'none' | 'elsewhere' | 'in-use'; message: string }

/** `workload/slot/name`: how people name a slot's volume. */
export const volumeRef = (v: { workload: string; slot: number; name: string }): string =>
  `${v.workload}/${v.slot}/${v.name}`

export const selects = (selector: VolumeSelector, v: HeldVolume): boolean =>
  v.workload === selector.workload &&
  (selector.slot === undefined || v.slot === selector.slot) &&
  (selector.name === undefined || v.name === selector.name)

/**
 * Removes this node's volumes that `selector` names, all or none: a volume a container still
 * mounts refuses the whole removal (its data is in use), before any is removed.
 */
export async function removeVolumes(
  runtime: ContainerRuntime,
  self: string,
  selector: VolumeSelector,
  own: readonly HeldVolume[],
  everyone: readonly VolumeRow[],
  label: (id: string) => string,
): Promise<RemoveOutcome> {
  const text = [selector.workload, selector.slot, selector.name].filter((p) => p !== undefined).join('/')
  const mine = own.filter((v) => selects(selector, v))
  if (mine.length === 0) {
    const holders = [
      ...new Set(everyone.filter((v) => v.node !== self && selects(selector, v)).map((v) => v.node)),
    ]
    if (holders.length === 0)
      return { ok: false, kind: 'none', message: `no volume ${text} on any node (see gary volume ls)` }
    return {
      ok: false,
      kind: 'elsewhere',
      message: `volume ${text} is on ${holders.map(label).join(', ')}, not on ${label(self)}: run gary volume rm against that node's API (gary --api HOST:PORT)`,
    }
  }
  const busy = mine.filter((v) => v.inUse)
  if (busy.length > 0)
    return {
      ok: false,
      kind: 'in-use',
      message: `volume ${busy.map(volumeRef).join(', ')} is in use by a container on ${label(self)}: remove the workload (gary rm ${selector.workload}) or scale it down first; nothing removed`,
    }
  const removed: string[] = []
  for (const v of mine) {
    await runtime.removeVolume(volumeName(self, v.workload, v.slot, v.name))
    removed.push(volumeRef(v))
  }
  return { ok: true, removed }
}
