import { DEFAULT_DETECTOR, ringNeighbours, shardOf } from '@gary/protocol'
import { describe, expect, test } from 'vitest'
import { beat, connect, type MembershipRig, membershipRig, stateOf } from './agent-rig.js'

const PEERS = ['a', 'b', 'c', 'd', 'e']
const { predecessors, successors } = ringNeighbours('self', PEERS, DEFAULT_DETECTOR.watchers)
const [watched] = predecessors as [string]
const down = (node: string) => ({ kind: 'down', node, incarnation: 1, seq: 1 })

/** A started agent connected to every peer; a knock at a silent member's machine finds no answer. */
function cluster(): MembershipRig {
  const rig = membershipRig()
  rig.port.machines = 'down'
  rig.agent.start()
  for (const peer of PEERS) connect(rig, peer)
  rig.port.clear()
  return rig
}

/** `peers` beat the agent every fast interval for `ms`, at state `seq`. */
function beatFast(rig: MembershipRig, peers: string | string[], ms: number, seq = 1): void {
  for (let t = 0; t < ms; t += DEFAULT_DETECTOR.fastBeatMs) {
    rig.clock.advance(DEFAULT_DETECTOR.fastBeatMs)
    for (const peer of typeof peers === 'string' ? [peers] : peers)
      rig.agent.heartbeatReceived(peer, beat(seq, rig.agent.table.liveDigest(peer)))
  }
}

const accusations = (rig: MembershipRig) => rig.port.of('publish note').map((call) => call.note)

describe('fast detection', () => {
  test('beats its ring successors every fast interval, on top of the heartbeat to every peer', () => {
    const rig = cluster()
    // Past the grace of the successors that joins moved off the ring.
    beatFast(rig, PEERS, DEFAULT_DETECTOR.graceMs + 200)
    rig.port.clear()
    beatFast(rig, PEERS, 1000)
    const beaten = (peer: string) => rig.port.of('heartbeat', peer).length
    for (const peer of successors)
      expect(beaten(peer), `fast beats to ${peer}`).toBeGreaterThanOrEqual(
        1000 / DEFAULT_DETECTOR.fastBeatMs - 1,
      )
    for (const peer of PEERS.filter((p) => !successors.includes(p)))
      expect(beaten(peer), `beats to ${peer}`).toBeLessThanOrEqual(1)
  })

  test('a predecessor that beat fast and falls silent is accused within half a second; a second witness makes it dead', () => {
    const rig = cluster()
    beatFast(rig, watched, 1000)
    const silentFrom = rig.clock.now()
    rig.clock.advance(DEFAULT_DETECTOR.suspectAfterMs + 150)
    expect(accusations(rig)).toEqual([down(watched)])
    expect(rig.agent.table.get(watched)?.status, 'one witness is not enough').toBe('alive')
    rig.agent.noteGossiped('other-witness', down(watched) as never)
    expect(rig.agent.table.get(watched)?.status).toBe('dead')
    expect(rig.clock.now() - silentFrom).toBeLessThan(1000)
  })

  test('a predecessor whose machine answers a knock (its process stalled) is not accused, until its machine stops answering', () => {
    const rig = cluster()
    rig.port.machines = 'up'
    beatFast(rig, watched, 1000)
    rig.clock.advance(1500)
    expect(accusations(rig), 'a stalled process is left to the regular thresholds').toEqual([])
    expect(rig.port.of('knock', watched).length, 'knocked at again while silent').toBeGreaterThanOrEqual(2)
    expect(rig.agent.table.get(watched)?.status).toBe('alive')
    // Its machine loses power: the next knock finds no answer.
    rig.port.machines = 'down'
    rig.clock.advance(DEFAULT_DETECTOR.knockAgainMs + 200)
    expect(accusations(rig)).toContainEqual(down(watched))
  })

  test('a knock that is not answered in time accuses once the silence is long enough, not before', () => {
    const rig = cluster()
    rig.port.machines = undefined
    beatFast(rig, watched, 1000)
    rig.clock.advance(DEFAULT_DETECTOR.knockAfterMs + 100)
    const [knock] = rig.port.of('knock', watched)
    expect(knock, 'knocked before the threshold').toBeDefined()
    rig.port.answer(knock, new Error('no answer within 150 ms'))
    expect(accusations(rig), 'silent for less than the threshold').toEqual([])
    rig.clock.advance(DEFAULT_DETECTOR.suspectAfterMs - DEFAULT_DETECTOR.knockAfterMs)
    expect(accusations(rig)).toEqual([down(watched)])
  })

  test('a death starts a roll call: every connected peer is asked for a heartbeat, and a peer that asks is answered at once', () => {
    const rig = cluster()
    beatFast(rig, watched, 1000)
    rig.clock.advance(DEFAULT_DETECTOR.suspectAfterMs + 150)
    rig.port.clear()
    rig.agent.noteGossiped('other-witness', down(watched) as never)
    rig.clock.advance(1)
    const asked = rig.port.of('heartbeat').filter((call) => call.beat?.ask === true)
    expect(asked.map((call) => call.peer).sort()).toEqual(PEERS.filter((p) => p !== watched).sort())
    expect(rig.agent.table.rollCalling).toBe(true)
    rig.port.clear()
    const other = PEERS.find((p) => p !== watched) as string
    rig.agent.heartbeatReceived(other, { ...beat(1, rig.agent.table.liveDigest(other)), ask: true })
    expect(rig.port.of('heartbeat', other).map((call) => call.beat?.ask)).toEqual([undefined])
  })

  test("each answer to a roll call makes placement look again, not only the last: rule 10's wait may end at half", () => {
    const rig = cluster()
    beatFast(rig, watched, 1000)
    rig.clock.advance(DEFAULT_DETECTOR.suspectAfterMs + 150)
    rig.agent.noteGossiped('other-witness', down(watched) as never)
    rig.clock.advance(1)
    expect(rig.agent.table.rollCalling).toBe(true)
    const [first, second] = PEERS.filter((p) => p !== watched) as [string, string]
    const before = rig.changes.length
    rig.agent.heartbeatReceived(first, beat(1, rig.agent.table.liveDigest(first)))
    expect(rig.changes.length - before).toBe(1)
    // The same peer again is no new answer.
    rig.agent.heartbeatReceived(first, beat(1, rig.agent.table.liveDigest(first)))
    expect(rig.changes.length - before).toBe(1)
    rig.agent.heartbeatReceived(second, beat(1, rig.agent.table.liveDigest(second)))
    expect(rig.changes.length - before).toBe(2)
    expect(rig.agent.table.rollCalling).toBe(true)
  })

  test('a member whose beats come late on a lossy link (TCP retransmissions) is given a longer silence', () => {
    const rig = cluster()
    beatFast(rig, watched, 1000)
    // Beats retransmitted: gaps of 380 ms, each short of an accusation.
    for (let i = 0; i < 3; i++) {
      rig.clock.advance(380)
      rig.agent.heartbeatReceived(watched, beat(1, rig.agent.table.liveDigest(watched)))
    }
    const ofWatched = () => accusations(rig).filter((note) => note?.node === watched)
    rig.clock.advance(520)
    expect(ofWatched(), '520 ms is within 1.5 times its worst gap').toEqual([])
    rig.clock.advance(200)
    expect(ofWatched()).toEqual([down(watched)])
  })

  test('a member back after an absence (a boot, a healed cable) is accused at the usual silence: the absence is no jitter', () => {
    const rig = cluster()
    rig.port.machines = 'up'
    beatFast(rig, watched, 1000)
    rig.clock.advance(5000)
    rig.port.machines = 'down'
    beatFast(rig, watched, 1000)
    const ofWatched = () => accusations(rig).filter((note) => note?.node === watched)
    rig.clock.advance(DEFAULT_DETECTOR.suspectAfterMs + 200)
    expect(ofWatched()).toEqual([down(watched)])
  })

  test('a member that never beat this node fast is judged by the regular thresholds alone', () => {
    const rig = cluster()
    const other = PEERS.find((p) => !predecessors.includes(p)) as string
    beatFast(rig, [...predecessors, other], 1000)
    // It falls silent; the predecessors keep beating.
    beatFast(rig, predecessors, 1500)
    expect(accusations(rig)).toEqual([])
  })

  test('a node whose own event loop stalled accuses nobody, and holds its peers alive past the regular thresholds', () => {
    const rig = cluster()
    beatFast(rig, watched, 1000)
    // Its loop is stuck for 600 ms: the beats that came meanwhile wait unread, the timers fire late.
    rig.clock.stall(600)
    rig.clock.advance(1)
    expect(accusations(rig)).toEqual([])
    // Still lagging a second later: nobody accused, and nobody suspect at the configured 2 s.
    rig.clock.stall(600)
    rig.clock.advance(1600)
    expect(accusations(rig)).toEqual([])
    expect(rig.agent.table.get(watched)?.status).toBe('alive')
  })

  test("the member's next heartbeat withdraws this node's accusation: a later lone report does not make it dead", () => {
    const rig = cluster()
    beatFast(rig, watched, 1000)
    rig.clock.advance(DEFAULT_DETECTOR.suspectAfterMs + 150)
    expect(accusations(rig)).toEqual([down(watched)])
    beatFast(rig, watched, 300)
    rig.agent.noteGossiped('other-witness', down(watched) as never)
    rig.clock.advance(100)
    expect(rig.agent.table.get(watched)?.status).toBe('alive')
  })

  test('a member that refuted an accusation is not accused again for the same silence', () => {
    const rig = cluster()
    beatFast(rig, watched, 1000)
    rig.clock.advance(DEFAULT_DETECTOR.suspectAfterMs + 150)
    expect(accusations(rig)).toEqual([down(watched)])
    // Its refutation, a newer state, reaches this node while its beats on this link are late.
    rig.agent.stateGossiped(watched, stateOf(watched, 2))
    rig.clock.advance(1000)
    expect(accusations(rig), 'one accusation per silence').toEqual([down(watched)])
    // A new silence after its beats came back is accused again.
    beatFast(rig, watched, 1000, 2)
    rig.clock.advance(DEFAULT_DETECTOR.suspectAfterMs + 150)
    expect(accusations(rig).filter((note) => note?.node === watched)).toEqual([
      down(watched),
      { ...down(watched), seq: 2 },
    ])
  })
})

describe('fast detection past targetPeers', () => {
  test('a node dials its ring successors even at targetPeers: only a connected successor can witness its silence', () => {
    const { watchers } = DEFAULT_DETECTOR
    const rig = membershipRig('self', { targetPeers: watchers })
    rig.agent.start()
    const peers = [...PEERS, 'f', 'g', 'h']
    for (const peer of peers) rig.agent.stateGossiped(peer, stateOf(peer))
    const ring = ringNeighbours('self', peers, watchers).successors
    const others = peers.filter((p) => !ring.includes(p))
    for (const peer of others.slice(0, watchers)) connect(rig, peer)
    rig.port.clear()
    rig.clock.advance(1000)
    const dialled = new Set(rig.port.of('dial').map((call) => call.peer))
    for (const peer of ring) expect(dialled, `a dial of ${peer}`).toContain(peer)
  })

  test('a --target-peers below the number of watchers holds: no ring successor is dialled past it', () => {
    const rig = membershipRig('self', { targetPeers: 2 })
    rig.agent.start()
    for (const peer of PEERS) rig.agent.stateGossiped(peer, stateOf(peer))
    const others = PEERS.filter((p) => !successors.includes(p))
    for (const peer of others.slice(0, 2)) connect(rig, peer)
    rig.port.clear()
    rig.clock.advance(1000)
    expect(rig.port.of('dial')).toHaveLength(0)
  })

  // Ids by shard, with 8 shards (membership is partial past 3).
  const SHARDS = 8
  const ids = Array.from({ length: 400 }, (_, i) => `p${i}`)
  const own = shardOf('self', SHARDS)
  const ofShard = (shard: number) => ids.filter((id) => shardOf(id, SHARDS) === shard)
  const mates = ofShard(own).slice(0, 4)

  test("with partial membership, the ring is this node's own shard: its successors there watch it", () => {
    // A member of the next shard that falls between this node and its successors in its own shard:
    // it keeps a table of its own, and its ring did not hold this node as a predecessor.
    const next = ofShard((own + 1) % SHARDS).find((id) =>
      ringNeighbours('self', [...mates, id], DEFAULT_DETECTOR.watchers).successors.includes(id),
    ) as string
    const rig = membershipRig('self', { promiseShards: SHARDS })
    rig.port.machines = 'up'
    rig.agent.start()
    for (const peer of [...mates, next]) connect(rig, peer)
    beatFast(rig, [...mates, next], DEFAULT_DETECTOR.graceMs + 200)
    rig.port.clear()
    beatFast(rig, [...mates, next], 1000)
    const beaten = (peer: string) => rig.port.of('heartbeat', peer).length
    expect(beaten(next), 'beats to the member of the next shard').toBeLessThanOrEqual(1)
    for (const peer of ringNeighbours('self', mates, DEFAULT_DETECTOR.watchers).successors)
      expect(beaten(peer), `fast beats to ${peer}`).toBeGreaterThanOrEqual(
        1000 / DEFAULT_DETECTOR.fastBeatMs - 1,
      )
  })
})
