import { DEFAULT_DETECTOR, type MemberNote, ringNeighbours, shardOf, shardsNear } from '@gary/protocol'
import { describe, expect, test } from 'vitest'
import { Rejection } from '../src/net/rejections.js'
import { PROBE_TIMEOUT_MS } from '../src/timing.js'
import { beat, connect, membershipRig, stateOf } from './agent-rig.js'

const down = (node: string, extra: Partial<MemberNote> = {}): MemberNote => ({
  kind: 'down',
  node,
  incarnation: 1,
  seq: 1,
  ...extra,
})

/** The seqs of this node's states published, each once (a publish that reached nobody is retried). */
const seqs = (rig: ReturnType<typeof membershipRig>) => [
  ...new Set(rig.port.of('publish state').map((call) => call.state?.seq)),
]

describe('heartbeats', () => {
  test('a heartbeat announcing a newer state pulls it once, from that peer, and takes only its own state', () => {
    const rig = membershipRig()
    rig.agent.start()
    connect(rig, 'p')
    rig.port.clear()
    const digest = rig.agent.table.liveDigest('p')
    rig.agent.heartbeatReceived('p', beat(2, digest))
    rig.agent.heartbeatReceived('p', beat(2, digest))
    const pulls = rig.port.of('pull state', 'p')
    expect(pulls, 'one pull while one is under way').toHaveLength(1)
    rig.port.answer(pulls[0], stateOf('q', 2))
    expect(rig.agent.table.get('q'), 'a state of another node, answered by p').toBeUndefined()
    expect(rig.agent.rejections.count(Rejection.PulledStateOfAnother)).toBe(1)
    rig.agent.heartbeatReceived('p', beat(2, digest))
    rig.port.answer(rig.port.of('pull state', 'p')[1], stateOf('p', 2))
    expect(rig.agent.table.get('p')?.state?.seq).toBe(2)
  })

  test('a member held dead that beats again is told so, and comes back', () => {
    const rig = membershipRig()
    rig.agent.start()
    connect(rig, 'p')
    rig.clock.advance(3200)
    expect(rig.agent.table.get('p')?.status).toBe('dead')
    rig.port.clear()
    rig.port.links.add('p')
    rig.agent.heartbeatReceived('p', beat(1, rig.agent.table.liveDigest('p')))
    expect(rig.port.of('tell', 'p').map((call) => call.note)).toEqual([down('p')])
    expect(rig.agent.table.get('p')?.status).toBe('alive')
  })

  test('agrees with a peer once its heartbeat carries the same members and declarations', () => {
    const rig = membershipRig()
    rig.agent.start()
    rig.port.links.add('p')
    rig.agent.heartbeatReceived('p', beat(1, rig.agent.table.liveDigest('p'), 'other declarations'))
    expect(rig.agent.agreedWithAPeer).toBe(false)
    rig.agent.heartbeatReceived('p', beat(1, 'not our members'))
    expect(rig.agent.agreedWithAPeer).toBe(false)
    const changes = rig.changes.length
    rig.agent.heartbeatReceived('p', beat(1, rig.agent.table.liveDigest('p')))
    expect(rig.agent.agreedWithAPeer).toBe(true)
    expect(rig.changes.length, 'the view is looked at again').toBe(changes + 1)
  })

  test('a new connection hears a heartbeat at once, alone; the peer dialled is asked for hints', () => {
    const rig = membershipRig()
    rig.agent.start()
    for (const peer of ['p', 'q', 'r']) rig.port.links.add(peer)
    rig.port.clear()
    rig.agent.connected('q', true)
    rig.agent.connected('r', false)
    expect(rig.port.of('heartbeat').map((call) => call.peer)).toEqual(['q', 'r'])
    expect(rig.port.of('ask peers').map((call) => call.peer)).toEqual(['q'])
  })
})

describe('witnesses and refutation', () => {
  test('a connected member whose heartbeats stop is dead after deadAfterMs: hung up, and reported once', () => {
    const rig = membershipRig()
    rig.agent.start()
    connect(rig, 'p')
    rig.port.clear()
    rig.clock.advance(2100)
    expect(rig.agent.table.get('p')?.status).toBe('suspect')
    // Sweeps run every 100 ms, at 50 past: the one at 3050 finds it dead.
    rig.clock.advance(960)
    expect(rig.agent.table.get('p')?.status).toBe('dead')
    expect(rig.port.of('hang up', 'p')).toHaveLength(1)
    expect(rig.port.of('publish note'), 'the report waits for its jitter').toHaveLength(0)
    rig.clock.advance(100)
    expect(rig.port.of('publish note').map((call) => [call.topic, call.note])).toEqual([
      ['gary/1/c/members', down('p')],
    ])
  })

  test("a witness stays quiet when another witness's report made the member dead first", () => {
    const rig = membershipRig()
    rig.agent.start()
    connect(rig, 'p')
    rig.port.clear()
    rig.clock.advance(2500)
    expect(rig.agent.noteGossiped('w', down('p', { unreachable: true }))).toBe('accept')
    expect(rig.agent.table.get('p')?.status).toBe('dead')
    rig.clock.advance(1000)
    expect(rig.port.of('publish note')).toHaveLength(0)
  })

  test('a member known by gossip is dead on two witnesses, or on one that could not reach it', () => {
    const rig = membershipRig()
    rig.agent.start()
    rig.agent.stateGossiped('g', stateOf('g'))
    rig.agent.stateGossiped('h', stateOf('h'))
    rig.agent.noteGossiped('w1', down('g'))
    expect(rig.agent.table.get('g')?.status, 'one witness').toBe('alive')
    rig.agent.noteGossiped('w2', down('g'))
    expect(rig.agent.table.get('g')?.status, 'two witnesses').toBe('dead')
    rig.agent.noteGossiped('w1', down('h', { unreachable: true }))
    expect(rig.agent.table.get('h')?.status, 'one that could not reach it').toBe('dead')
  })

  test('reported down while up, a node refutes with a newer state to every member, at most once a second', () => {
    const rig = membershipRig()
    rig.agent.start()
    rig.port.clear()
    expect(rig.agent.noteGossiped('w', down('self'))).toBe('accept')
    expect(rig.port.of('publish state').map((call) => [call.topic, call.state?.seq])).toEqual([
      ['gary/1/c/state', 2],
    ])
    rig.clock.advance(300)
    rig.agent.noteGossiped('w2', down('self', { seq: 2 }))
    expect(rig.port.of('publish state'), 'a second report within the second').toHaveLength(1)
    expect(rig.agent.noteGossiped('w', down('self', { incarnation: 0 })), 'an older life').toBe('ignore')
    rig.clock.advance(699)
    expect(seqs(rig), 'not before the second is up').toEqual([2])
    rig.clock.advance(1)
    // Dropped, the report stood at every member for the witness window, and another blip's
    // report paired with it into a false death.
    expect(seqs(rig), 'the report within the second is refuted when it is up').toEqual([2, 3])
    rig.clock.advance(1000)
    rig.port.clear()
    rig.agent.noteGossiped('w2', down('self', { seq: 3 }))
    expect(rig.port.of('publish state').map((call) => [call.topic, call.state?.seq])).toEqual([
      ['gary/1/c/state', 4],
    ])
    rig.clock.advance(500)
    rig.agent.noteGossiped('w3', down('self', { seq: 3 }))
    rig.clock.advance(1000)
    expect(
      seqs(rig),
      'a report of a version already outweighed by a newer state needs no refutation',
    ).toEqual([4])
  })

  test('a told note counts only when it is about this node; a beacon speaks only for its signer', () => {
    const rig = membershipRig()
    rig.agent.start()
    expect(rig.agent.noteTold('p', down('q'))).toBe(false)
    expect(rig.agent.rejections.count(Rejection.ToldNoteAboutAnother)).toBe(1)
    expect(rig.agent.noteTold('p', down('self'))).toBe(true)
    expect(rig.agent.noteGossiped('x', { kind: 'alive', node: 'p', incarnation: 1, seq: 1 })).toBe('reject')
    expect(rig.agent.rejections.counts()).toEqual({
      [Rejection.ToldNoteAboutAnother]: 1,
      [Rejection.BeaconSignedByAnother]: 1,
    })
  })

  test('a peer whose last connection closed and that cannot be dialled again is reported unreachable', () => {
    const rig = membershipRig()
    rig.agent.start()
    connect(rig, 'p')
    rig.port.links.delete('p')
    rig.port.clear()
    rig.agent.disconnected('p')
    const probe = rig.port.of('dial', 'p')
    expect(probe).toHaveLength(1)
    rig.port.answer(probe[0], new Error('connection refused'))
    expect(rig.agent.table.get('p')?.status).toBe('dead')
    rig.clock.advance(100)
    expect(rig.port.of('publish note').map((call) => call.note)).toEqual([down('p', { unreachable: true })])
  })

  test('a redial that fails while this node lags is no verdict yet: it is tried again until it can be one', () => {
    const rig = membershipRig()
    rig.agent.start()
    connect(rig, 'p')
    // Its loop was stuck for 600 ms: its timers fired late, and it lags for seconds after.
    rig.clock.stall(600)
    rig.clock.advance(1)
    rig.port.links.delete('p')
    rig.port.clear()
    rig.agent.disconnected('p')
    rig.port.answer(rig.port.of('dial', 'p')[0], new Error('dial timed out'))
    expect(rig.agent.table.get('p')?.status, 'a lagging node accuses nobody').not.toBe('dead')
    // Unconnected, p is judged by relayed liveness alone: without another redial, nobody here
    // would find it dead for minutes (its beacon overdue).
    let answered = 1
    for (let second = 1; second <= 5 && rig.agent.table.get('p')?.status !== 'dead'; second++) {
      rig.clock.advance(PROBE_TIMEOUT_MS)
      const dials = rig.port.of('dial', 'p')
      for (const dial of dials.slice(answered)) rig.port.answer(dial, new Error('dial timed out'))
      answered = dials.length
    }
    expect(rig.agent.table.get('p')?.status, 'dead once this node is on time again').toBe('dead')
  })

  test("beats read while this node's loop lags are no clock samples: they look behind by the lag, and it would refuse writes", () => {
    const rig = membershipRig()
    rig.agent.start()
    const peers = ['p', 'q', 'r']
    for (const peer of peers) connect(rig, peer)
    /** Beats from every peer every 200 ms for `ms`, their clocks read `behindMs` behind this node's. */
    const beats = (ms: number, behindMs: number) => {
      for (let t = 0; t < ms; t += 200) {
        rig.clock.advance(200)
        for (const peer of peers)
          rig.agent.heartbeatReceived(
            peer,
            beat(1, rig.agent.table.liveDigest(peer), 'd0', rig.clock.wallNow() - behindMs),
          )
      }
    }
    // Its loop was stuck for 2 s: the beats that came meanwhile are read now, 2 s late.
    rig.clock.stall(2000)
    beats(1000, 2000)
    expect(rig.clockGuard.writesRefused(), 'late reads are not a clock 2 s ahead').toBeUndefined()
    // On time again, peers whose clocks really are 2 s behind are seen.
    beats(12_000, 2000)
    expect(rig.clockGuard.writesRefused()).toMatch(/2 s ahead of its peers/)
  })
})

describe('member sync', () => {
  test('a digest that differs for a second starts a sync, one per second whatever the peer', () => {
    const rig = membershipRig()
    rig.agent.start()
    connect(rig, 'p')
    connect(rig, 'q')
    rig.port.clear()
    rig.agent.heartbeatReceived('p', beat(1, 'ffffffff'))
    rig.agent.heartbeatReceived('q', beat(1, 'ffffffff'))
    rig.clock.advance(999)
    rig.agent.heartbeatReceived('p', beat(1, 'ffffffff'))
    expect(rig.port.of('sync members')).toHaveLength(0)
    rig.clock.advance(1)
    rig.agent.heartbeatReceived('p', beat(1, 'ffffffff'))
    rig.agent.heartbeatReceived('q', beat(1, 'ffffffff'))
    expect(rig.port.of('sync members').map((call) => call.peer)).toEqual(['p'])
    rig.clock.advance(1000)
    rig.agent.heartbeatReceived('q', beat(1, 'ffffffff'))
    expect(rig.port.of('sync members').map((call) => call.peer)).toEqual(['p', 'q'])
  })

  test('the answer brings the states we miss, and members we hold dead that the peer holds live are dialled', () => {
    const rig = membershipRig()
    rig.agent.start()
    rig.agent.stateGossiped('d', stateOf('d'))
    rig.agent.noteGossiped('w', down('d', { unreachable: true }))
    expect(rig.agent.table.get('d')?.status).toBe('dead')
    connect(rig, 'p')
    rig.port.clear()
    rig.agent.heartbeatReceived('p', beat(1, 'ffffffff'))
    rig.clock.advance(1000)
    rig.agent.heartbeatReceived('p', beat(1, 'ffffffff'))
    rig.port.answer(rig.port.of('sync members', 'p')[0], [stateOf('d'), stateOf('n')])
    expect(rig.agent.table.get('n')?.state?.node, 'a member we missed').toBe('n')
    expect(rig.port.of('dial', 'd'), 'its own connection, not the peer word, brings it back').toHaveLength(1)
  })

  test('dials to a live member that time out back off, those refused do not, and a connection ends the backoff', () => {
    const dialsIn10s = (reason: string) => {
      const rig = membershipRig()
      rig.agent.start()
      rig.agent.stateGossiped('q', stateOf('q'))
      let answered = 0
      for (let t = 0; t < 10_000; t += 100) {
        rig.clock.advance(100)
        const dials = rig.port.of('dial', 'q')
        for (const dial of dials.slice(answered)) rig.port.answer(dial, new Error(reason))
        answered = dials.length
      }
      return { rig, dials: answered }
    }
    expect(dialsIn10s('refused').dials).toBeGreaterThanOrEqual(8)
    const { rig, dials } = dialsIn10s('The operation was aborted due to timeout')
    expect(dials).toBeLessThanOrEqual(4)
    // Connected meanwhile (it dialled this node) and gone again: dialled at once, as before.
    connect(rig, 'q')
    rig.port.links.delete('q')
    rig.agent.disconnected('q')
    rig.port.clear()
    rig.clock.advance(1100)
    expect(rig.port.of('dial', 'q').length).toBeGreaterThanOrEqual(1)
  })

  test('a member held dead that a peer holds live is dialled again a heartbeat after a failed dial', () => {
    const rig = membershipRig()
    rig.agent.start()
    rig.agent.stateGossiped('d', stateOf('d'))
    rig.agent.noteGossiped('w', down('d', { unreachable: true }))
    connect(rig, 'p')
    rig.port.clear()
    const syncAndAnswer = () => {
      rig.agent.heartbeatReceived('p', beat(1, 'ffffffff'))
      const sync = rig.port.of('sync members', 'p').at(-1)
      if (sync !== undefined) rig.port.answer(sync, [stateOf('d')])
    }
    syncAndAnswer()
    rig.clock.advance(1000)
    syncAndAnswer()
    expect(rig.port.of('dial', 'd')).toHaveLength(1)
    // The link to d was down: the dial fails. The link comes back, and p still holds d live.
    rig.port.answer(rig.port.of('dial', 'd')[0], new Error('unreachable'))
    rig.clock.advance(1000)
    syncAndAnswer()
    expect(rig.port.of('dial', 'd'), 'dialled again a second later, not five').toHaveLength(2)
  })

  test('members held dead that the peer holds live are all dialled, eight at a time, the next as one ends', () => {
    const rig = membershipRig()
    rig.agent.start()
    const dead = Array.from({ length: 12 }, (_, i) => `d${i}`)
    for (const id of dead) {
      rig.agent.stateGossiped(id, stateOf(id))
      rig.agent.noteGossiped('w', down(id, { unreachable: true }))
    }
    connect(rig, 'p')
    rig.port.clear()
    rig.agent.heartbeatReceived('p', beat(1, 'ffffffff'))
    rig.clock.advance(1000)
    rig.agent.heartbeatReceived('p', beat(1, 'ffffffff'))
    rig.port.answer(
      rig.port.of('sync members', 'p')[0],
      dead.map((id) => stateOf(id)),
    )
    const checks = () => rig.port.of('dial').filter((call) => call.peer?.startsWith('d'))
    expect(checks()).toHaveLength(8)
    for (const call of checks().slice(0, 4)) rig.port.answer(call, new Error('refused'))
    expect(
      checks()
        .map((call) => call.peer)
        .sort(),
    ).toEqual([...dead].sort())
  })

  test('answers a peer with the states it misses or holds older, this node first', () => {
    const rig = membershipRig()
    rig.agent.start()
    rig.agent.stateGossiped('a', stateOf('a', 3))
    rig.agent.stateGossiped('b', stateOf('b', 1))
    const answer = rig.agent.memberSyncAsked('p', [
      { node: 'a', incarnation: 1, seq: 2 },
      { node: 'b', incarnation: 1, seq: 1 },
    ])
    expect(answer.map((state) => `${state.node}.${state.seq}`)).toEqual(['self.1', 'a.3'])
  })
})

describe('redial', () => {
  test('dials the join address at start, and again a heartbeat later if it failed', () => {
    const rig = membershipRig('self', { join: ['/dns4/seed/tcp/7946'] })
    rig.agent.start()
    const joins = () => rig.port.of('dial', '/dns4/seed/tcp/7946')
    expect(joins()).toHaveLength(1)
    rig.port.answer(joins()[0], new Error('refused'))
    // Heartbeats at 500 and 1500 (a random phase of 0.5): the one at 500 is too soon.
    rig.clock.advance(1000)
    expect(joins(), 'not before a heartbeat interval').toHaveLength(1)
    rig.clock.advance(500)
    expect(joins()).toHaveLength(2)
  })

  test('dials hints at most eight at a time, the next as soon as one ends', () => {
    const rig = membershipRig()
    rig.agent.start()
    connect(rig, 'p')
    const hints = Array.from({ length: 20 }, (_, i) => ({ id: `h${i}`, addrs: ['/ip4/10.0.0.2/tcp/1'] }))
    rig.port.answer(rig.port.of('ask peers', 'p')[0], hints)
    const dials = () => rig.port.of('dial').filter((call) => call.peer?.startsWith('h'))
    expect(dials()).toHaveLength(8)
    rig.port.answer(dials()[0], new Error('refused'))
    expect(dials()).toHaveLength(9)
  })

  test('checks up to four members held dead every five seconds, even at its target', () => {
    const rig = membershipRig('self', { targetPeers: 1 })
    rig.agent.start()
    connect(rig, 'p')
    for (const id of ['d1', 'd2', 'd3', 'd4', 'd5', 'd6']) {
      rig.agent.stateGossiped(id, stateOf(id))
      rig.agent.noteGossiped('w', down(id, { unreachable: true }))
    }
    rig.port.clear()
    const checks = () => rig.port.of('dial').filter((call) => call.peer?.startsWith('d'))
    for (let t = 0; t < 4900; t += 100) {
      rig.agent.heartbeatReceived('p', beat(1, rig.agent.table.liveDigest('p')))
      rig.clock.advance(100)
    }
    expect(checks(), 'the first check at start found none dead').toHaveLength(0)
    rig.clock.advance(1000)
    expect(checks()).toHaveLength(4)
  })

  test('asked to reach one of some members alive by gossip, dials one at a time even at its target, and none once one is connected', () => {
    const rig = membershipRig('self', { targetPeers: 1 })
    rig.agent.start()
    // Connected to its ring successors (dialled at every heartbeat otherwise), the others only by gossip.
    const ids = Array.from({ length: 8 }, (_, i) => `o${i}`)
    const { successors } = ringNeighbours('self', ids, DEFAULT_DETECTOR.watchers)
    for (const id of successors) connect(rig, id)
    const [o1, o2, o3] = ids.filter((id) => !successors.includes(id)) as [string, string, string]
    for (const id of [o1, o2, o3]) rig.agent.stateGossiped(id, stateOf(id))
    rig.port.clear()
    const dials = () => rig.port.of('dial').filter((call) => [o1, o2, o3].includes(call.peer as string))
    rig.agent.reach([o1, o2, o3])
    rig.agent.reach([o1, o2, o3])
    expect(dials(), 'one dial under way at a time').toHaveLength(1)
    rig.port.answer(dials()[0], new Error('refused'))
    rig.clock.advance(1000)
    rig.agent.reach([o1, o2, o3])
    expect(dials()).toHaveLength(2)
    connect(rig, dials()[1]?.peer as string)
    rig.clock.advance(1000)
    rig.agent.reach([o1, o2, o3])
    expect(dials(), 'connected to one of them').toHaveLength(2)
  })

  test('with ring shards, members in scope are dialled first, until half the target is in scope', () => {
    const shards = 8
    const rig = membershipRig('self', { targetPeers: 4, promiseShards: shards })
    const own = shardOf('self', shards)
    const near = (id: string) => shardsNear(own, shardOf(id, shards), shards)
    rig.agent.start()
    const ids = Array.from({ length: 60 }, (_, i) => `m${i}`)
    const far = ids.find((id) => !near(id)) as string
    connect(rig, far)
    rig.port.answer(
      rig.port.of('ask peers', far)[0],
      ids.filter((id) => id !== far).map((id) => ({ id, addrs: ['/ip4/10.0.0.3/tcp/1'] })),
    )
    const dialled = rig.port.of('dial').map((call) => call.peer as string)
    expect(dialled.length).toBe(3)
    expect(dialled.slice(0, 2).every(near), `${dialled} starts with two in scope`).toBe(true)
  })
})
