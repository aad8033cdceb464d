import type { ContainerRuntime, RuntimeEvent } from '@gary/runtime'
import type { Logger } from 'pino'

const RETRY_MS = 1000

/**
 * Follows the engine's container events for this node's containers until `signal` aborts,
 * reconnecting when the event stream breaks. Events only say "look again": the periodic resync
 * covers whatever is missed while reconnecting.
 */
export async function watchRuntime(
  runtime: ContainerRuntime,
  labels: Record<string, string>,
  onEvent: (event: RuntimeEvent) => void,
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  while (!signal.aborted) {
    try {
      for await (const event of runtime.events(labels, signal)) onEvent(event)
    } catch (err) {
      if (signal.aborted) return
      logger.warn({ err: (err as Error).message }, 'container event stream broke: reconnecting')
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref())
  }
}
