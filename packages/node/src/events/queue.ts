/** Thrown from a queue's iteration when its reader fell too far behind its writer. */
export class QueueOverflowError extends Error {
  override name = 'QueueOverflowError'
}

/**
 * Values pushed by a writer that must not wait (a ring's listener), read by one async reader.
 * Bounded: past `max` unread values the queue ends with QueueOverflowError rather than grow.
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = []
  #ended = false
  #error: Error | undefined
  #wake: (() => void) | undefined

  constructor(private readonly max: number) {}

  push(value: T): void {
    if (this.#ended) return
    if (this.#items.length >= this.max) {
      this.end(
        new QueueOverflowError(`more than ${this.max} events waited to be sent: the reader is too slow`),
      )
      return
    }
    this.#items.push(value)
    this.#wake?.()
  }

  /** No more values: the reader ends once it has read those pushed, or at once with `error`. */
  end(error?: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.#error = error
    this.#wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error
      const next = this.#items.shift()
      if (next !== undefined) {
        yield next
        continue
      }
      if (this.#ended) return
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
      this.#wake = undefined
    }
  }
}
