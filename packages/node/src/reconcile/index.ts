/**
 * The reconcile loop, free of libp2p: it reads a view of the cluster, plans with the placement
 * rules and acts through a container runtime. The daemon feeds it from gossip; the simulator feeds
 * it from simulated gossip on a virtual clock, so both run this very code.
 *
 * @example
 * ```ts
 * import { Reconciler, systemClock } from '@gary/node/reconcile'
 *
 * const reconciler = new Reconciler({}, {
 *   self: peerId, runtime, logger, clock: systemClock,
 *   view: () => clusterView.read(),
 *   publish: (promises, refusals) => gossipMyState({ promises, refusals }),
 * })
 * await reconciler.start()
 * onAnyChange(() => reconciler.trigger())
 * ```
 */
export { type Clock, systemClock } from '../clock/clock.js'
export { ClusterView, type ClusterViewComponents, type ClusterViewInit } from './cluster-view.js'
export { containerName, LABELS, parseSlotLabels, slotLabels } from './container-labels.js'
export { containerSpecFor, endpointsOf } from './container-spec.js'
export { PartialView } from './partial-view.js'
export {
  Reconciler,
  type ReconcilerComponents,
  type ReconcilerInit,
  type ReconcileView,
} from './reconciler.js'
export { watchRuntime } from './runtime-watch.js'
