/**
 * The Gary daemon: a libp2p host that joins a cluster through one known address, tells its peers
 * it is alive, gossips what it promises about itself, and keeps the member table.
 *
 * @example
 * ```ts
 * import { Daemon, resolveConfig, createLogger } from '@gary/node'
 * import { FakeRuntime } from '@gary/runtime'
 *
 * const config = resolveConfig([{ source: 'code', settings: { join: ['/ip4/10.0.0.1/tcp/4279/p2p/12D3Koo...'] } }])
 * const daemon = new Daemon(config, { logger: createLogger('info'), runtime: new FakeRuntime() })
 * await daemon.start()
 * console.log(daemon.nodes())
 * ```
 */
import './polyfill.js'

export * from './config/config.js'
export * from './daemon.js'
export * from './errors.js'
export * from './logger.js'
export { generateClusterKey, readClusterKey } from './net/cluster-key.js'
export { Gossip, gossipService } from './net/gossip.js'
