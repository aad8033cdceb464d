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
    this.#pending = kernelPorts(ports, this.init).map((p) => p.port)
    if (this.#wanted !== this.#applied) this.#writing ??= this.#write()
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
        const ports = this.#pending
        try {
          await this.components.netfilter.apply(ruleset, AbortSignal.timeout(10_000))
          this.#applied = ruleset
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
    } finally {
      this.#writing = undefined
    }
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
