import type { Netfilter, NetfilterProbe } from '../mesh/netfilter.js'
import { NetfilterError } from '../mesh/netfilter.js'

/** Netfilter in memory, for unit tests: it keeps the last ruleset applied, and can be made to fail. */
export class FakeNetfilter implements Netfilter {
  /** The table as applied (the last ruleset), undefined when there is none. */
  table: string | undefined
  /** Every ruleset applied, in order. */
  readonly applied: string[] = []
  /** Applies fail while this is set (a ruleset the kernel refuses); removes still work. */
  failWith: string | undefined
  removals = 0
  /** While set, applies wait for it: a kernel slow to take a table. */
  gate: Promise<void> | undefined
  /** Applies waiting at the gate. */
  held = 0

  constructor(private readonly probed: NetfilterProbe = { usable: true, forwarding: true }) {}

  async probe(): Promise<NetfilterProbe> {
    return this.probed
  }

  async apply(ruleset: string): Promise<void> {
    await Promise.resolve()
    if (this.gate !== undefined) {
      this.held++
      await this.gate
      this.held--
    }
    if (this.failWith !== undefined) throw new NetfilterError(this.failWith)
    this.applied.push(ruleset)
    this.table = ruleset
  }

  async remove(): Promise<void> {
    await Promise.resolve()
    this.removals++
    this.table = undefined
  }
}
