import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from 'it-length-prefixed-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import { Gossip } from '../packages/node/src/net/gossip.js'
import { clusterNames } from '../packages/node/src/net/names.js'
import { createP2P, type P2P } from '../packages/node/src/net/p2p.js'
import { Rejection, type RejectionCode } from '../packages/node/src/net/rejections.js'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/src/testing/index.js'
import {
  encodeHeartbeat,
  encodeMemberNote,
  encodeNodeState,
  MAX_NODE_STATE_BYTES,
  type NodeState,
} from '../packages/protocol/src/index.js'

const NAMES = clusterNames('default')
const TOPIC = NAMES.topics.state
const HEARTBEAT = NAMES.protocols.heartbeat
const NOTE = NAMES.protocols.note
const STATE = NAMES.protocols.state

function stateOf(node: string, seq: number, labels: Record<string, string>, incarnation = 1): NodeState {
  return {
    node,
    incarnation,
    seq,
    addrs: [],
    labels,
    capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 },
    draining: false,
    promises: [],
    refusals: [],
  }
}

/**
 * A real libp2p peer, in this process, that speaks Gary's protocols by hand to send what an
 * honest daemon never would.
 */
describe('messages from a hostile peer over a real connection', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let a: DaemonProcess
  let b: DaemonProcess
  let attacker: P2P
  let gossip: Gossip
  let aPeer: PeerId

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) dirs.push(await DaemonProcess.tempDir())
    a = await new DaemonProcess({
      dataDir: dirs[0]!,
      args: ['--log-level', 'debug', '--label', 'role=a'],
    }).start()
    b = await new DaemonProcess({
      dataDir: dirs[1]!,
      join: [a.joinAddr],
      args: ['--label', 'role=b'],
    }).start()
    daemons.push(a, b)
    attacker = await createP2P({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      allow: [],
    })
    gossip = new Gossip(attacker.services.pubsub)
    gossip.subscribe(TOPIC, () => 'accept')
    const connection = await attacker.dial(multiaddr(a.joinAddr))
    aPeer = connection.remotePeer
    await waitFor('A to list B alive', async () =>
      (await a.cli<NodeView[]>('nodes')).some((node) => node.id === b.peerId && node.state === 'alive'),
    )
    await waitFor('the attacker to be in A’s mesh', () => gossip.meshPeers(TOPIC) > 0)
  })

  afterAll(async () => {
    await attacker?.stop()
    await cleanup(daemons, dirs)
  })

  const bAsSeenByA = async () => (await a.cli<NodeView[]>('nodes')).find((node) => node.id === b.peerId)
  const debugCount = (msg: string) => a.logs.filter((line) => line.msg === msg).length
  /** How many messages A refused with `code` (each refusal's log line carries its reason code). */
  const refusals = (code: RejectionCode) => a.logs.filter((line) => line.code === code).length

  it('ignores a NodeState that claims to be another node', async () => {
    const before = await bAsSeenByA()
    const rejected = refusals(Rejection.StateSignedByAnother)
    await gossip.publish(
      TOPIC,
      encodeNodeState(stateOf(b.peerId, 1_000_000, { role: 'forged' }, Date.now() * 2)),
    )
    await waitFor('A to reject the forgery', () => refusals(Rejection.StateSignedByAnother) > rejected)
    const after = await bAsSeenByA()
    expect(after?.labels).toEqual({ role: 'b' })
    expect(after?.incarnation).toBe(before?.incarnation)
    expect((await a.cli<NodeView[]>('nodes')).some((node) => node.id === attacker.peerId.toString())).toBe(
      false,
    )
  })

  it('ignores malformed and oversized NodeStates', async () => {
    const rejected = refusals(Rejection.StateMalformed)
    const me = attacker.peerId.toString()
    await gossip.publish(TOPIC, new TextEncoder().encode('{"v":1,"t":"state","b":{"node":'))
    const huge = stateOf(me, 1, { role: 'x' })
    const refusal = { workload: 'w', generation: 'g', reason: 'r'.repeat(500), at: { wall: 1, logical: 0 } }
    huge.refusals = Array.from({ length: Math.ceil(MAX_NODE_STATE_BYTES / 500) }, () => refusal)
    await gossip.publish(TOPIC, encodeNodeState(huge))
    await gossip.publish(
      TOPIC,
      new TextEncoder().encode(JSON.stringify({ v: 1, t: 'state', b: { ...huge, extra: 1 } })),
    )
    await waitFor('A to reject all three', () => refusals(Rejection.StateMalformed) >= rejected + 3)
    expect((await a.cli<NodeView[]>('nodes')).some((node) => node.id === me)).toBe(false)
    expect((await bAsSeenByA())?.state).toBe('alive')
  })

  it('ignores a replayed older NodeState of the sender', async () => {
    const me = attacker.peerId.toString()
    await gossip.publish(TOPIC, encodeNodeState(stateOf(me, 5, { version: 'new' })))
    await waitFor('A to hold the attacker’s state', async () =>
      (await a.cli<NodeView[]>('nodes')).some((node) => node.id === me && node.labels.version === 'new'),
    )
    const ignored = debugCount('ignored state')
    await gossip.publish(TOPIC, encodeNodeState(stateOf(me, 3, { version: 'old' })))
    await waitFor('A to ignore the replay', () => debugCount('ignored state') > ignored)
    const node = (await a.cli<NodeView[]>('nodes')).find((n) => n.id === me)
    expect(node?.labels).toEqual({ version: 'new' })
  })

  it('refuses a garbage declaration set over the sync stream, and changes nothing', async () => {
    await attacker.handle(NAMES.protocols.declarationSync, async ({ stream }) => {
      await lpStream(stream).write(new TextEncoder().encode('{"v":1,"t":"decls","b":[{"name":1}]}'))
      await stream.close()
    })
    const before = await a.cli<unknown[]>('get')
    // Heartbeats claiming a declaration digest that differs from A's make A pull from the attacker.
    const beats = lpStream(await attacker.dialProtocol(aPeer, HEARTBEAT))
    const beat = encodeHeartbeat({
      incarnation: 1,
      seq: 5,
      members: '00000000',
      decls: 'ffffffffffffffff',
      wall: Date.now(),
    })
    await waitFor('A to pull from the attacker', async () => {
      await beats.write(beat)
      return a.hasLog('refused a message', { code: Rejection.DeclarationSetMalformed })
    })
    expect(await a.cli<unknown[]>('get')).toEqual(before)
    expect((await bAsSeenByA())?.state).toBe('alive')
  })

  it('takes a down note told directly only about itself: drops one about another member', async () => {
    const tell = async (note: Parameters<typeof encodeMemberNote>[0]) =>
      lpStream(await attacker.dialProtocol(aPeer, NOTE)).write(encodeMemberNote(note))
    const held = await bAsSeenByA()
    const dropped = refusals(Rejection.ToldNoteAboutAnother)
    await tell({ kind: 'down', node: b.peerId, incarnation: held!.incarnation, seq: held!.seq })
    await waitFor('A to drop the note', () => refusals(Rejection.ToldNoteAboutAnother) > dropped)
    expect((await bAsSeenByA())?.state).toBe('alive')

    // About A itself, at its current version: A refutes with a newer state.
    const self = (await a.cli<NodeView[]>('nodes')).find((node) => node.self)!
    await tell({ kind: 'down', node: a.peerId, incarnation: self.incarnation, seq: self.seq })
    const witness = attacker.peerId.toString()
    await waitFor('A to refute', () =>
      a.logs.some((line) => line.msg === 'reported down while up: refuting' && line.witness === witness),
    )
    await waitFor('A’s newer state', async () =>
      (await a.cli<NodeView[]>('nodes')).some((node) => node.self && node.seq > self.seq),
    )
  })

  it('drops a heartbeat stream that carries garbage, and keeps working', async () => {
    const dropped = refusals(Rejection.HeartbeatMalformed)
    const stream = await attacker.dialProtocol(aPeer, HEARTBEAT)
    const lp = lpStream(stream)
    await lp.write(new TextEncoder().encode('garbage'))
    await waitFor('A to drop the stream', () => refusals(Rejection.HeartbeatMalformed) > dropped)

    // A valid heartbeat on a new stream is still heard: it announces a newer state of the
    // attacker than A holds, and A pulls that state from it.
    const me = attacker.peerId.toString()
    await gossip.publish(TOPIC, encodeNodeState(stateOf(me, 100, { version: 'gossiped' })))
    await waitFor('A to hold the attacker’s gossiped state', async () =>
      (await a.cli<NodeView[]>('nodes')).some((node) => node.id === me && node.labels.version === 'gossiped'),
    )
    await attacker.handle(STATE, async ({ stream }) => {
      await lpStream(stream).write(encodeNodeState(stateOf(me, 101, { version: 'pulled' })))
      await stream.close()
    })
    const again = lpStream(await attacker.dialProtocol(aPeer, HEARTBEAT))
    await again.write(
      encodeHeartbeat({
        incarnation: 1,
        seq: 101,
        members: '00000000',
        decls: '0000000000000000',
        wall: Date.now(),
      }),
    )
    await waitFor('A to pull the state the heartbeat announced', async () =>
      (await a.cli<NodeView[]>('nodes')).some((node) => node.id === me && node.labels.version === 'pulled'),
    )
    expect((await bAsSeenByA())?.state).toBe('alive')
  })
})
