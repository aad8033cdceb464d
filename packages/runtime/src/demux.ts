import type { LogLine } from './types.js'

/**
 * Splits Docker's multiplexed log stream (non-TTY containers: 8-byte frame headers naming
 * stdout or stderr, then the payload) into lines. Feed it chunks as they come; partial frames
 * and partial lines are kept until the rest arrives.
 */
export class LogDemuxer {
  #pending: Buffer = Buffer.alloc(0)
  readonly #partial: Record<LogLine['stream'], string> = { stdout: '', stderr: '' }

  push(chunk: Buffer): LogLine[] {
    this.#pending = this.#pending.byteLength === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    const lines: LogLine[] = []
    while (this.#pending.byteLength >= 8) {
      const size = this.#pending.readUInt32BE(4)
      if (this.#pending.byteLength < 8 + size) break
      const stream = this.#pending[0] === 2 ? 'stderr' : 'stdout'
      const text = this.#partial[stream] + this.#pending.subarray(8, 8 + size).toString('utf8')
      this.#pending = this.#pending.subarray(8 + size)
      const parts = text.split('\n')
      this.#partial[stream] = parts.pop() ?? ''
      for (const line of parts) lines.push({ stream, line })
    }
    return lines
  }

  /** Lines still unterminated when the stream ended. */
  end(): LogLine[] {
    const rest = (['stdout', 'stderr'] as const)
      .filter((stream) => this.#partial[stream] !== '')
      .map((stream) => ({ stream, line: this.#partial[stream] }))
    this.#partial.stdout = ''
    this.#partial.stderr = ''
    return rest
  }
}
