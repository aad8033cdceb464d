import type { Logger } from '../logger.js'
import type { RotationQuery } from './rotation-frames.js'
import type { Confirmation } from './rotation-service.js'

export interface DrainComponents {
  self: string
  logger: Logger
  /** Monotonic ms. */
  now: () => number
  /** This node's own mesh. */
  mesh: { outOfRotation(node: string, container: string, signal: AbortSignal): Promise<boolean> }
  /** Asks peers (`RotationService.confirm`). */
  confirm(
    query: RotationQuery,
    peers: readonly string[],
    live: (peer: string) => boolean,
    signal: AbortSignal,
  ): Promise<Confirmation>
  /** The live peers whose mesh may send this node's slots connections, now. */
  peers(): string[]
  /** Whether a peer is still worth waiting for (not dead, not gone). */
  live(peer: string): boolean
  /** Longest wait for this node's own mesh, ms. */
  timeoutMs: number
}

/**
 * A released slot of this node leaves every mesh's rotation: its own and each peer's. Resolves
 * when all said so, or could not (logged: the slot is stopped anyway, as a fixed drain would).
 */
export async function drainReleased(
  components: DrainComponents,
  slot: RotationQuery,
  signal: AbortSignal,
): Promise<void> {
  const { logger, mesh } = components
  const began = components.now()
  const ownSignal = AbortSignal.any([signal, AbortSignal.timeout(components.timeoutMs)])
  const [ownOut, answers] = await Promise.all([
    mesh.outOfRotation(components.self, slot.container, ownSignal),
    components.confirm(slot, components.peers(), (peer) => components.live(peer), signal),
  ])
  if (signal.aborted) return
  const ms = Math.round(components.now() - began)
  const unconfirmed = answers.unconfirmed.map(({ peer, reason }) => `${peer}: ${reason}`)
  if (!ownOut) unconfirmed.unshift('this node: its own mesh still sends connections to the slot')
  const fields = { workload: slot.workload, slot: slot.slot, ms, confirmed: answers.confirmed.length }
  // At info, as the release itself: how long a stop waited on the meshes is an operator's question.
  if (unconfirmed.length === 0) logger.info(fields, 'released slot out of every mesh’s rotation')
  else
    logger.info(
      { ...fields, unconfirmed },
      'released slot stopped before every mesh said it no longer sends it connections',
    )
}
