import { describe, expect, it } from 'vitest'
import { parseExposition, sampleValue } from '../../../test/prometheus-text.js'
import { GaryMetrics, type MetricsSource } from '../src/metrics/metrics.js'

const SELF = 'node-a'

function source(over: Partial<MetricsSource> = {}): MetricsSource {
  return {
    peerId: SELF,
    nodes: () => [{ state: 'alive' }, { state: 'alive' }, { state: 'dead' }, { state: 'left' }],
    slots: () => [
      { node: SELF, phase: 'running' },
      { node: SELF, phase: 'claimed' },
      { node: 'node-b', phase: 'running' },
      { node: null, phase: 'unschedulable' },
    ],
    declarations: { store: { entries: () => [{ deleted: false }, { deleted: true }, { deleted: false }] } },
    meshStats: undefined,
    traffic: () => ({
      connections: 2,
      gossip: new Map([
        ['gary/1/default/state', { messagesIn: 5, bytesIn: 500, messagesOut: 3, bytesOut: 300 }],
      ]),
      links: { framesIn: 7, bytesIn: 70, framesOut: 8, bytesOut: 80 },
    }),
    ...over,
  }
}

describe('GaryMetrics', () => {
  it('reads its gauges from the daemon at each scrape', async () => {
    const metrics = new GaryMetrics({ heartbeatMs: 1000 })
    metrics.watch(source())
    const families = parseExposition(await metrics.text())
    expect(sampleValue(families, 'gary_members', { state: 'alive' })).toBe(2)
    expect(sampleValue(families, 'gary_members', { state: 'dead' })).toBe(1)
    // A state this code does not know yet is still counted.
    expect(sampleValue(families, 'gary_members', { state: 'left' })).toBe(1)
    expect(sampleValue(families, 'gary_slots', { phase: 'running' })).toBe(1)
    expect(sampleValue(families, 'gary_slots', { phase: 'claimed' })).toBe(1)
    expect(sampleValue(families, 'gary_slots_unschedulable')).toBe(1)
    expect(sampleValue(families, 'gary_declarations', { state: 'tombstone' })).toBe(1)
    expect(sampleValue(families, 'gary_gossip_messages_total', { topic: 'state', direction: 'in' })).toBe(5)
    expect(sampleValue(families, 'gary_link_bytes_total', { direction: 'out' })).toBe(80)
  })

  it('mirrors the daemon’s totals without counting them twice', async () => {
    const metrics = new GaryMetrics({ heartbeatMs: 1000 })
    let messagesIn = 5
    metrics.watch(
      source({
        traffic: () => ({
          connections: 0,
          gossip: new Map([['gary/1/x/decl', { messagesIn, bytesIn: 0, messagesOut: 0, bytesOut: 0 }]]),
          links: { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0 },
        }),
      }),
    )
    await metrics.text()
    messagesIn = 9
    const families = parseExposition(await metrics.text())
    expect(sampleValue(families, 'gary_gossip_messages_total', { topic: 'decl', direction: 'in' })).toBe(9)
  })

  it('counts a heartbeat late only past 1.5 intervals after the same peer’s last', async () => {
    const metrics = new GaryMetrics({ heartbeatMs: 1000 })
    metrics.heartbeat('p', 0)
    metrics.heartbeat('q', 100)
    metrics.heartbeat('p', 1400)
    metrics.heartbeat('q', 1700)
    metrics.heartbeat('p', 3000)
    const families = parseExposition(await metrics.text())
    expect(sampleValue(families, 'gary_heartbeats_late_total')).toBe(2)
  })

  it('counts the log lines it is told of, refusals by kind of reason', async () => {
    const metrics = new GaryMetrics({ heartbeatMs: 1000 })
    metrics.logLine({ member: 'x' }, 'member suspect')
    metrics.logLine({ member: 'x' }, 'member alive again')
    metrics.logLine({ member: 'y' }, 'member suspect')
    metrics.logLine({ reason: 'image gary/nope:1 not found on node-a' }, 'refused slot')
    metrics.logLine(undefined, 'something else')
    const families = parseExposition(await metrics.text())
    expect(sampleValue(families, 'gary_suspicions_total', { outcome: 'raised' })).toBe(2)
    expect(sampleValue(families, 'gary_suspicions_total', { outcome: 'refuted' })).toBe(1)
    expect(sampleValue(families, 'gary_slot_refusals_total', { reason: 'image' })).toBe(1)
  })
})
