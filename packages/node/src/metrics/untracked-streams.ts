import type { prometheusMetrics } from '@libp2p/prometheus-metrics'

type Libp2pMetrics = ReturnType<typeof prometheusMetrics>

/** The heartbeat protocols (1.0.0 and 1.1.0) of any cluster. */
export const HEARTBEAT_PROTOCOL = /^\/gary\/[^/]+\/heartbeat\//

/**
 * libp2p's metrics without its byte count of the streams whose protocol matches `untracked`: it
 * counts a stream's bytes by wrapping its source and its sink in an async generator more, a
 * round of promises for every frame, and the heartbeat links carry several frames a second to
 * each peer. Their frames and bytes are counted by Gary itself (`gary_link_frames_total`,
 * `gary_link_bytes_total`).
 */
export function withoutStreamTracking(factory: Libp2pMetrics, untracked: RegExp): Libp2pMetrics {
  return (components) => {
    const metrics = factory(components)
    const track = metrics.trackProtocolStream.bind(metrics)
    metrics.trackProtocolStream = (stream, connection) => {
      if (!untracked.test(stream.protocol ?? '')) track(stream, connection)
    }
    return metrics
  }
}
