import type { HeldVolume, MemberStatus } from '@gary/protocol'
import type { ContainerRuntime } from '@gary/runtime'
import type { Libp2p } from '@libp2p/interface'
import type { Logger } from '../logger.js'
import { VolumeRemovalService } from './removal-service.js'
import {
  inUse,
  type RemoveOutcome,
  type RemoveReport,
  removeHere,
  selectorText,
  selects,
  type VolumeRow,
  type VolumeSelector,
  volumeRef,
} from './remove.js'
import type { VolumeApi } from './routes.js'
import { VolumeReport } from './volume-report.js'

/** A member's volumes as its latest state published them. */
export interface MemberVolumes {
  id: string
  status: MemberStatus
  left?: boolean
  volumes?: readonly HeldVolume[]
}

export interface ClusterVolumesComponents {
  runtime: ContainerRuntime
  libp2p: Libp2p
  logger: Logger
  cluster: string
  /** This node's id. */
  self: string
  /** The other members, as the membership table lists them. */
  members(): Iterable<MemberVolumes>
  /** A node as messages name it. */
  label(id: string): string
  /** This node's volumes changed: publish them with its state. */
  publish(volumes: HeldVolume[], leftOut: number): void
}

/**
 * The cluster's named volumes as `gary volume ls|rm` see them from this node: its own, read from
 * the engine, beside every member's published ones; removal asks each holder over a stream.
 */
export class ClusterVolumes implements VolumeApi {
  readonly #report: VolumeReport
  readonly #removal: VolumeRemovalService

  constructor(private readonly components: ClusterVolumesComponents) {
    const { runtime, logger, self, publish, libp2p, cluster } = components
    this.#report = new VolumeReport({}, { runtime, logger, self, publish })
    this.#removal = new VolumeRemovalService(
      { cluster },
      { libp2p, logger, removeHere: (selector) => this.#removeHere(selector) },
    )
  }

  async start(): Promise<void> {
    await this.#report.start()
    await this.#removal.start()
  }

  async stop(): Promise<void> {
    this.#report.stop()
    await this.#removal.stop()
  }

  async volumes(): Promise<VolumeRow[]> {
    await this.#report.refresh()
    const rows: VolumeRow[] = this.#report.volumes.map((v) => ({
      ...v,
      node: this.components.self,
      state: 'alive',
    }))
    for (const member of this.components.members())
      for (const v of member.volumes ?? [])
        rows.push({ ...v, node: member.id, state: member.left === true ? 'left' : member.status })
    return rows
  }

  /**
   * Removes the volumes the selector names from every node that holds them, as the nodes last
   * published them: none at all when one is in use anywhere; then each holder removes its own,
   * all or none, and says what it did.
   */
  async removeVolumes(selector: VolumeSelector): Promise<RemoveReport | RemoveOutcome> {
    const matching = (await this.volumes()).filter((v) => selects(selector, v))
    if (matching.length === 0)
      return {
        ok: false,
        kind: 'none',
        message: `no volume ${selectorText(selector)} on any node (see gary volume ls)`,
      }
    const busy = matching.filter((v) => v.inUse)
    if (busy.length > 0) {
      const where = [...new Set(busy.map((v) => this.components.label(v.node)))].join(', ')
      return inUse(busy.map(volumeRef), where, selector)
    }
    const report: RemoveReport = { removed: [], refused: [] }
    for (const node of [...new Set(matching.map((v) => v.node))].sort()) {
      const answer =
        node === this.components.self
          ? await this.#removeHere(selector)
          : await this.#removal.ask(node, selector)
      if (answer.ok) for (const volume of answer.removed) report.removed.push({ node, volume })
      else report.refused.push({ node, reason: answer.message })
    }
    return report
  }

  /** This node's part of `gary volume rm`, read from the engine just before. */
  async #removeHere(selector: VolumeSelector): Promise<RemoveOutcome> {
    const { runtime, self, label } = this.components
    await this.#report.refresh()
    try {
      return await removeHere(runtime, self, selector, this.#report.volumes, label(self))
    } finally {
      await this.#report.refresh()
    }
  }
}
