import type { HeldVolume } from '@gary/protocol'
import { type ContainerRuntime, VolumeInUseError, VolumeNotFoundError } from '@gary/runtime'
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

/** What one node did about a removal. */
export type RemoveOutcome =
  | { ok: true; removed: string[] }
  /** `none`: it holds none of them. `in-use`: a container there mounts one. */
  | { ok: false; kind: 'none' | 'in-use'; message: string }

/** What `gary volume rm` did, node by node: what each removed, and why others did not. */
export interface RemoveReport {
  removed: { node: string; volume: string }[]
  refused: { node: string; reason: string }[]
}

/** `workload/slot/name`: how people name a slot's volume. */
export const volumeRef = (v: { workload: string; slot: number; name: string }): string =>
  `${v.workload}/${v.slot}/${v.name}`

export const selectorText = (s: VolumeSelector): string =>
  [s.workload, s.slot, s.name].filter((part) => part !== undefined).join('/')

export const selects = (selector: VolumeSelector, v: HeldVolume): boolean =>
  v.workload === selector.workload &&
  (selector.slot === undefined || v.slot === selector.slot) &&
  (selector.name === undefined || v.name === selector.name)

/**
 * Removes this node's volumes that `selector` names, all or none: a volume a container still
 * mounts refuses the whole removal (its data is in use), before any is removed. `own` is what the
 * node read from its engine just before.
 */
export async function removeHere(
  runtime: ContainerRuntime,
  self: string,
  selector: VolumeSelector,
  own: readonly HeldVolume[],
  label: string,
): Promise<RemoveOutcome> {
  const mine = own.filter((v) => selects(selector, v))
  if (mine.length === 0)
    return { ok: false, kind: 'none', message: `no volume ${selectorText(selector)} on ${label}` }
  const busy = mine.filter((v) => v.inUse)
  if (busy.length > 0) return inUse(busy.map(volumeRef), label, selector)
  const removed: string[] = []
  for (const v of mine) {
    try {
      await runtime.removeVolume(volumeName(self, v.workload, v.slot, v.name))
    } catch (err) {
      // Mounted since the engine was read: say so (what went before is gone already).
      if (err instanceof VolumeInUseError) return inUse([volumeRef(v)], label, selector, removed)
      // Removed by hand meanwhile: what was asked for is done.
      if (!(err instanceof VolumeNotFoundError)) throw err
    }
    removed.push(volumeRef(v))
  }
  return { ok: true, removed }
}

export function inUse(
  refs: string[],
  label: string,
  selector: VolumeSelector,
  removed: string[] = [],
): RemoveOutcome {
  const done = removed.length === 0 ? 'nothing removed' : `removed only ${removed.join(', ')}`
  return {
    ok: false,
    kind: 'in-use',
    message: `volume ${refs.join(', ')} is in use by a container on ${label}: remove the workload (gary rm ${selector.workload}) or scale it down first; ${done}`,
  }
}
