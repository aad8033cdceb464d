import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2pInit } from 'libp2p'
import { gossipService } from './gossip.js'
import { type HandshakeFailure, watchHandshakes } from './handshake-watch.js'
import { returnWindowCreditByHalves } from './yamux-window.js'

export interface P2PInit {
  privateKey: PrivateKey
  listen: string[]
  /** Pre-shared cluster key: without it, no connection can be opened at all. */
  clusterKey?: Uint8Array
  /** Multiaddr CIDRs exempt from connection limits. */
  allow: string[]
  /** Peers this node refuses to connect with (banned members, the partition test hook). */
  blocked?: { has(peer: string): boolean }
  /** A handshake failed the way a different cluster key (or none) makes it fail. */
  onHandshakeFailure?: (failure: HandshakeFailure) => void
  /** libp2p's own metrics (Prometheus), when the daemon serves them. */
  metrics?: Libp2pInit['metrics']
}

/** The libp2p host: TCP, Noise, Yamux, identify, ping and gossipsub, closed by the cluster key when given. */
export async function createP2P(init: P2PInit) {
  returnWindowCreditByHalves()
  return createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...protection(init),
    connectionManager: {
      // libp2p 2.10's defaults retry every few ms and give up at once; Gary also redials itself.
      reconnectRetryInterval: 500,
      reconnectBackoffFactor: 2,
      reconnectRetries: 10,
      allow: init.allow,
    },
    // Gary's own heartbeats judge liveness (and close links to dead members); the monitor's pings
    // only cost bytes, and under a send backlog they time out and abort healthy connections.
    connectionMonitor: { enabled: false },
    ...(init.blocked === undefined ? {} : { connectionGater: gaterFor(init.blocked) }),
    ...(init.metrics === undefined ? {} : { metrics: init.metrics }),
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipService(),
    },
  })
}

export type P2P = Awaited<ReturnType<typeof createP2P>>

/** The cluster key's protection, watched for handshakes that fail as a key mismatch makes them fail. */
function protection(init: P2PInit) {
  const keyed = init.clusterKey === undefined ? undefined : preSharedKey({ psk: init.clusterKey })
  if (init.onHandshakeFailure === undefined) return keyed === undefined ? {} : { connectionProtector: keyed }
  return { connectionProtector: watchHandshakes(keyed, init.onHandshakeFailure) }
}

/** Refuses every connection, either way, with the blocked peers. */
function gaterFor(blocked: { has(peer: string): boolean }) {
  const deny = (peer: { toString(): string }) => blocked.has(peer.toString())
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
  }
}
