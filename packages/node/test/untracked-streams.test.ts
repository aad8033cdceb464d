import { describe, expect, it } from 'vitest'
import { HEARTBEAT_PROTOCOL, withoutStreamTracking } from '../src/metrics/untracked-streams.js'
import { clusterNames } from '../src/net/names.js'

describe('libp2p metrics without the heartbeat streams', () => {
  it("leave every heartbeat stream (both versions, any cluster) to Gary's own counters, and track the others", () => {
    const tracked: string[] = []
    const factory = (() => ({
      trackProtocolStream: (stream: { protocol?: string }) => tracked.push(stream.protocol ?? ''),
    })) as never
    const metrics = withoutStreamTracking(factory, HEARTBEAT_PROTOCOL)({} as never)
    for (const cluster of ['default', 'prod-eu']) {
      const { protocols } = clusterNames(cluster)
      for (const protocol of Object.values(protocols))
        metrics.trackProtocolStream({ protocol } as never, {} as never)
    }
    const expected = ['default', 'prod-eu'].flatMap((cluster) =>
      Object.values(clusterNames(cluster).protocols).filter((p) => !p.includes('/heartbeat/')),
    )
    expect(tracked).toEqual(expected)
    expect(expected.length).toBeGreaterThan(10)
  })
})
