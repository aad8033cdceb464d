import { type HeldVolume, MAX_HELD_VOLUMES } from '@gary/protocol'
import type { ContainerRuntime } from '@gary/runtime'
import { type Logger, swallowed } from '../logger.js'
import { LABELS, parseVolumeLabels } from '../reconcile/container-labels.js'

export interface VolumeReportInit {
  /** How often the engine's volumes are read again, ms. Default 10000. */
  refreshMs?: number
}

export interface VolumeReportComponents {
  runtime: ContainerRuntime
  logger: Logger
  /** This node's id: only volumes labelled with it are its own. */
  self: string
  /** The node's volumes changed: publish them with its state. */
  publish(volumes: HeldVolume[], leftOut: number): void
}

/**
 * The named volumes this node holds for slots, read from the engine now and then and published
 * with the node's state, so that `gary volume ls` on any node lists every node's volumes. The
 * engine's labels say what each is; a volume without them is no business of Gary's.
 */
export class VolumeReport {
  readonly #refreshMs: number
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #last: HeldVolume[] = []

  constructor(
    init: VolumeReportInit,
    private readonly components: VolumeReportComponents,
  ) {
    this.#refreshMs = init.refreshMs ?? 10_000
  }

  /** What was last read. */
  get volumes(): readonly HeldVolume[] {
    return this.#last
  }

  async start(): Promise<void> {
    await this.refresh()
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  /** Reads the engine's volumes again (one read at a time) and publishes what changed. */
  refresh(): Promise<void> {
    this.#running ??= this.#read().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  async #read(): Promise<void> {
    const { runtime, self, logger } = this.components
    const listed = await runtime
      .listVolumes({ [LABELS.node]: self })
      .catch(swallowed(logger, 'cannot list volumes', {}))
    if (listed === undefined) return
    const held = listed
      .flatMap((volume) => {
        const what = parseVolumeLabels(volume.labels)
        return what === undefined ? [] : [{ ...what, inUse: volume.inUse }]
      })
      .sort((a, b) => a.workload.localeCompare(b.workload) || a.slot - b.slot || a.name.localeCompare(b.name))
    this.#last = held
    this.components.publish(held.slice(0, MAX_HELD_VOLUMES), Math.max(0, held.length - MAX_HELD_VOLUMES))
  }
}
