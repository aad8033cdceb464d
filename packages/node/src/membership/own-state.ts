import type { MembershipContext } from './context.js'

/**
 * Gossips this node's own NodeState: to its scope on each change, to every member that keeps it
 * when all must hear it, and again on each heartbeat to any topic its last publish did not reach.
 */
export class OwnState {
  /**
   * Topics owed this node's current state: one whose last publish reached nobody (publishes
   * before the mesh forms are lost), retried on each heartbeat; and the state topic, while every
   * member must hear this node (the first state of an incarnation, a refutation).
   */
  readonly #unpublished = new Set<string>()

  constructor(private readonly ctx: MembershipContext) {
    // With partial membership, the members that keep this node are those of its scope: its state
    // topic is its shard's topic.
    const { topics } = ctx
    this.#unpublished.add(topics.partial ? topics.publish : topics.state)
  }

  /** Every member that keeps this node must hear its current state: all, unless partial. */
  owedToAll(): void {
    if (!this.ctx.topics.partial) this.#unpublished.add(this.ctx.topics.state)
  }

  /** Publishes again to the topics owed the current state, if any. */
  retry(): void {
    if (this.#unpublished.size > 0) this.publish([...this.#unpublished])
  }

  /** Publishes this node's state to `topics`, or to the state topic alone while every member is owed it. */
  publish(topics: readonly string[] = [this.ctx.topics.publish]): void {
    const { port, topics: names, logger } = this.ctx
    const state = this.ctx.self.current
    const to = this.#unpublished.has(names.state) ? [names.state] : topics
    for (const topic of to)
      port.publishState(topic, state, (result) => {
        if (!result.ok) {
          this.#unpublished.add(topic)
          logger.debug({ topic, err: result.reason }, 'state publish failed')
        } else if (result.value === 0) this.#unpublished.add(topic)
        // Every member listens on the state topic: what it carried, every shard topic carried.
        else if (topic === names.state) this.#unpublished.clear()
        else this.#unpublished.delete(topic)
      })
  }
}
