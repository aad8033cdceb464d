import type { Netfilter, NetfilterProbe } from './netfilter.js'

/**
 * A fault-test hook (`GARY_TEST_MESH_LAG_MS`): every table is written `lagMs` late, as by a node
 * too busy to follow the view at once, while its kernel keeps forwarding with the old one.
 */
export class LaggingNetfilter implements Netfilter {
  constructor(
    private readonly inner: Netfilter,
    private readonly lagMs: number,
  ) {}

  probe(signal?: AbortSignal): Promise<NetfilterProbe> {
    return this.inner.probe(signal)
  }

  async apply(ruleset: string, signal?: AbortSignal): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.lagMs))
    await this.inner.apply(ruleset, signal)
  }

  remove(signal?: AbortSignal): Promise<void> {
    return this.inner.remove(signal)
  }
}
