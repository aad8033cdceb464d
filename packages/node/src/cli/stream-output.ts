import { once } from 'node:events'

/**
 * Standard output for a command that streams from the daemon: `signal` aborts on Ctrl-C, SIGTERM
 * or a reader gone (EPIPE: head, less), `write` waits for the pipe to drain, and `close` removes
 * the listeners once the stream has ended.
 */
export function streamOutput(): {
  signal: AbortSignal
  write: (text: string) => Promise<void>
  close: () => void
} {
  const stop = new AbortController()
  const interrupt = () => stop.abort()
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  process.stdout.once('error', interrupt)
  return {
    signal: stop.signal,
    write: async (text) => {
      if (!process.stdout.write(text))
        await once(process.stdout, 'drain', { signal: stop.signal }).catch(() => {})
    },
    close: () => {
      process.off('SIGINT', interrupt)
      process.off('SIGTERM', interrupt)
      process.stdout.off('error', interrupt)
    },
  }
}
