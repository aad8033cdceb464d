import type { Logger } from '../logger.js'
import { type ForwardedPort, kernelPorts, type NatRulesetOptions, natRuleset } from './nat-ruleset.js'
import type { Netfilter } from './netfilter.js'

export interface KernelForwarderComponents {
  netfilter: Netfilter
  logger: Logger
}

/**
 * The kernel half of the mesh: it keeps the mesh's nftables table equal to the ports it is given
 * (each with the slots `spreadTargets` chose), one transaction at a time, the newest wins. A table
 * that cannot be written is removed, so that the userland proxy, which holds every port, serves
 * them all rather than stale rules; the next update tries again.
 */
export class KernelForwarder {
  #applied: string | undefined
  #wanted: string | undefined
  #ports: number[] = []
  /** The ports of the wanted ruleset. */
  #pending: number[] = []
  #writing: Promise<void> | undefined
  #lastError: string | undefined
  #stopped = false
  /** Counts updates; the table holds the ruleset of update `#appliedSeq` (or a later one). */
  #wantedSeq = 0
  #appliedSeq = 0
  readonly #writeWaiters = new Set<() => void>()

  constructor(
    private readonly init: NatRulesetOptions,
    private readonly components: KernelForwarderComponents,
  ) {}

  /** The ports the kernel forwards now (as last written). */
  get ports(): readonly number[] {
    return this.#ports
  }

  /** Forward these ports from now on; the table is rewritten only when its rules change. */
  update(ports: readonly ForwardedPort[]): void {
    if (this.#stopped) return
    this.#wanted = natRuleset(ports, this.init)
    this.#wantedSeq++
    this.#pending = kernelPorts(ports, this.init).map((p) => p.port)
    if (this.#wanted !== this.#applied) this.#writing ??= this.#write()
    else if (this.#writing === undefined) this.#appliedSeq = this.#wantedSeq
  }

  /** The number of the last update: `reached` takes it. */
  get updates(): number {
    return this.#wantedSeq
  }

  /**
   * Waits until the table holds update `seq` or a later one, or no table is being written (a
   * write that failed removes the table). Not `settled`: on a slow kernel and a view that keeps
   * changing, the newest update may never be the one written.
   */
  async reached(seq: number): Promise<void> {
    while (this.#appliedSeq < seq && this.#writing !== undefined && !this.#stopped)
      await new Promise<void>((resolve) => this.#writeWaiters.add(resolve))
  }

  /** Waits for the table to hold the last update (tests; stop). */
  async settled(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing
  }

  /** Removes the table: the userland proxy serves every port again. */
  async stop(): Promise<void> {
    this.#stopped = true
    await this.settled()
    try {
      await this.components.netfilter.remove(AbortSignal.timeout(10_000))
    } catch (err) {
      this.components.logger.warn(
        { err: (err as Error).message },
        'could not remove the mesh’s nftables table',
      )
    }
    this.#applied = undefined
    this.#ports = []
  }

  async #write(): Promise<void> {
    try {
      while (this.#wanted !== undefined && this.#wanted !== this.#applied && !this.#stopped) {
        const ruleset = this.#wanted
        const seq = this.#wantedSeq
        const ports = this.#pending
        try {
          await this.components.netfilter.apply(ruleset, AbortSignal.timeout(10_000))
          this.#applied = ruleset
          this.#appliedSeq = seq
          this.#wake()
          this.#ports = ports
          if (this.#lastError !== undefined)
            this.components.logger.info({ ports }, 'kernel forwarding restored')
          this.#lastError = undefined
          this.components.logger.debug({ ports }, 'kernel forwarding rules written')
        } catch (err) {
          await this.#fallBack((err as Error).message)
          return
        }
      }
      // The table holds the newest ruleset, whichever update asked for it.
      if (this.#wanted === this.#applied) this.#appliedSeq = this.#wantedSeq
    } finally {
      this.#writing = undefined
      this.#wake()
    }
  }

  #wake(): void {
    for (const resolve of this.#writeWaiters) resolve()
    this.#writeWaiters.clear()
  }

  async #fallBack(reason: string): Promise<void> {
    if (reason !== this.#lastError)
      this.components.logger.warn(
        { reason },
        'kernel forwarding rules not written: the userland proxy serves every port',
      )
    this.#lastError = reason
    this.#applied = undefined
    this.#ports = []
    await this.components.netfilter.remove(AbortSignal.timeout(10_000)).catch(() => {})
  }
}
