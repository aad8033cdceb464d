import type { NodeState } from '@gary/protocol'

type Content = Omit<NodeState, 'node' | 'incarnation' | 'seq'>

/**
 * This node's own NodeState. `seq` grows when the content changes, so peers can tell from a
 * heartbeat's (incarnation, seq) alone whether the state they hold is current, and on `refresh`.
 */
export class SelfState {
  #state: NodeState
  #key: string

  constructor(node: string, incarnation: number, content: Content) {
    this.#state = { node, incarnation, seq: 1, ...content }
    this.#key = JSON.stringify(content)
  }

  get current(): NodeState {
    return this.#state
  }

  /** Replaces the content; returns true (and bumps seq) when it changed. */
  update(change: Partial<Content>): boolean {
    // Every look at the view asks whether draining changed: comparing the whole content as JSON
    // each time cost every node a serialisation of its promises per state it received. Values
    // that are not objects are compared as they are (an array may have changed in place).
    const current = this.#state as Record<string, unknown>
    const fields = change as Record<string, unknown>
    let same = true
    for (const key in fields) {
      const value = fields[key]
      if ((typeof value === 'object' && value !== null) || !Object.is(value, current[key])) same = false
    }
    if (same) return false
    const { node, incarnation, seq, ...content } = { ...this.#state, ...change }
    const key = JSON.stringify(content)
    if (key === this.#key) return false
    this.#key = key
    this.#state = { node, incarnation, seq: seq + 1, ...content }
    return true
  }

  /** Bumps seq, content unchanged: a version newer than any a report of this node's death names. */
  refresh(): void {
    this.#state = { ...this.#state, seq: this.#state.seq + 1 }
  }
}
