import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from 'it-length-prefixed-stream'
import { afterAll, describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import { Gossip } from '../packages/node/src/net/gossip.js'
import { clusterNames } from '../packages/node/src/net/names.js'
import { createP2P, type P2P } from '../packages/node/src/net/p2p.js'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/src/testing/index.js'
import { decodeNodeState, encodeMemberNote } from '../packages/protocol/src/index.js'
import { HOOKS, partition } from './partition-hook.js'

const NODES = 5
const TARGET_PEERS = 2
const MEMBERS_TOPIC = clusterNames('default').topics.members
const STATE_PROTOCOL = clusterNames('default').protocols.state

const viewOf = (daemon: DaemonProcess) => daemon.cli<NodeView[]>('nodes')

async function allSee(daemons: DaemonProcess[], id: string, state: NodeView['state']): Promise<boolean> {
  const views = await Promise.all(daemons.map(viewOf))
  return views.every((view) => view.find((node) => node.id === id)?.state === state)
}

/** Whether `daemon` ever had, or has now, a connection to `peer`, from its own logs. */
function everConnected(daemon: DaemonProcess, peer: string): boolean {
  return daemon.hasLog('peer connected', { peer })
}

function connectedNow(daemon: DaemonProcess, peer: string): boolean {
  const events = daemon.logs.filter(
    (line) => line.peer === peer && (line.msg === 'peer connected' || line.msg === 'peer disconnected'),
  )
  return events.at(-1)?.msg === 'peer connected'
}

/**
 * Of `nodes` but the first (the join peer everyone dials), the one the most others are not
 * connected to by `connected`, and those others.
 */
function mostStrangers(
  nodes: DaemonProcess[],
  connected: (daemon: DaemonProcess, peer: string) => boolean,
): { node: DaemonProcess; strangers: DaemonProcess[] } {
  const candidates = nodes.slice(1).map((node) => ({
    node,
    strangers: nodes.filter((d) => d !== node && !connected(d, node.peerId)),
  }))
  candidates.sort((x, y) => y.strangers.length - x.strangers.length)
  return candidates[0]!
}

/** The wall time `daemon` logged `msg` about `member`, at or after `since`. */
function loggedAt(daemon: DaemonProcess, msg: string, member: string, since: number): number | undefined {
  const line = daemon.logs.find((l) => l.msg === msg && l.member === member && (l.time as number) >= since)
  return line?.time as number | undefined
}

/**
 * Five daemons that each keep only two connections (GARY_TARGET_PEERS=2): no node hears every
 * member's heartbeats, so membership rests on member sync, witnesses' reports and refutations.
 */
describe('relayed liveness with two connections per node', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  const attackers: P2P[] = []
  afterAll(async () => {
    await Promise.all(attackers.map((attacker) => attacker.stop()))
    await cleanup(daemons, dirs)
  })

  it('every node learns every member, most of them relayed by member sync', async () => {
    for (let i = 0; i < NODES; i++) dirs.push(await DaemonProcess.tempDir())
    const env = { GARY_TARGET_PEERS: String(TARGET_PEERS) }
    // Two hubs, and the rest join through both: each of the rest is then at its two connections,
    // and most pairs of them are never connected.
    const a = await new DaemonProcess({ dataDir: dirs[0]!, env, testHooks: HOOKS }).start()
    const b = await new DaemonProcess({
      dataDir: dirs[1]!,
      join: [a.joinAddr],
      env,
      testHooks: HOOKS,
    }).start()
    daemons.push(a, b)
    for (let i = 2; i < NODES; i++) {
      const join = [a.joinAddr, b.joinAddr]
      daemons.push(await new DaemonProcess({ dataDir: dirs[i]!, join, env, testHooks: HOOKS }).start())
    }
    await waitFor(
      'every node to list all five alive',
      async () => {
        const views = await Promise.all(daemons.map(viewOf))
        return views.every((view) => view.length === NODES && view.every((node) => node.state === 'alive'))
      },
      { timeoutMs: 15_000 },
    )
    // Without the 30 s re-gossip of every state, a member that joined before a node did reaches
    // it only by member sync (or a beacon, a minute later).
    const synced = daemons.filter((d) => d.logs.some((l) => l.msg === 'member joined' && l.via === 'sync'))
    expect(synced.length).toBeGreaterThan(0)
    const peers = daemons.map((d) => daemons.filter((o) => o !== d && connectedNow(d, o.peerId)).length)
    console.log(`connections per node: ${peers.join(', ')}; learned members by sync: ${synced.length}`)
  })

  it('a killed node is dead everywhere within seconds, also where it was never connected', async () => {
    // The victim: the node the most others never connected to, so that some only hear of it.
    const { node: victim, strangers } = mostStrangers(daemons, everConnected)
    expect(strangers.length, 'no node is without a connection to any other').toBeGreaterThan(0)
    const others = daemons.filter((d) => d !== victim)

    const killedAt = Date.now()
    await victim.kill('SIGKILL')
    await waitFor(
      'every other node to log the victim dead',
      () => others.every((d) => loggedAt(d, 'member dead', victim.peerId, killedAt) !== undefined),
      { timeoutMs: 5000 },
    )
    expect(await allSee(others, victim.peerId, 'dead')).toBe(true)
    const took = (d: DaemonProcess) => loggedAt(d, 'member dead', victim.peerId, killedAt)! - killedAt
    const indirect = strangers.map(took)
    const direct = others.filter((d) => !strangers.includes(d)).map(took)
    console.log(
      `death reached: connected nodes in ${direct.join(', ')} ms; never connected in ${indirect.join(', ')} ms`,
    )
    // Never connected, they heard it from two witnesses rather than from a heartbeat's age.
    for (const stranger of strangers)
      expect(stranger.hasLog('member reported down', { member: victim.peerId })).toBe(true)
    expect(Math.max(...indirect)).toBeLessThan(3000)
  })

  it('a node reported down by two forged witnesses refutes it and is alive everywhere again', async () => {
    const live = daemons.filter((d) => d.running)
    const hub = live[0]!
    // Two peers of the cluster (no cluster key here, so anyone can join) acting as witnesses.
    for (let i = 0; i < 2; i++) {
      const attacker = await createP2P({
        privateKey: await generateKeyPair('Ed25519'),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        allow: [],
      })
      attackers.push(attacker)
    }
    const gossips = attackers.map((attacker) => {
      const gossip = new Gossip(attacker.services.pubsub)
      gossip.subscribe(MEMBERS_TOPIC, () => 'accept')
      return gossip
    })
    await Promise.all(attackers.map((attacker) => attacker.dial(multiaddr(hub.joinAddr))))
    await waitFor('the attackers to be in the hub’s mesh', () =>
      gossips.every((g) => g.meshPeers(MEMBERS_TOPIC) > 0),
    )
    // The target: a live node some others have no connection to; they believe the witnesses.
    // Chosen once the attackers are in, right before the forgery, so that links made meanwhile
    // (fast beats to ring neighbours) cannot turn a stranger into a peer that hears the target.
    let { node: target, strangers } = mostStrangers(live, connectedNow)
    if (strangers.length === 0) {
      // Redials (after a connection dropped under load) connected every pair. Two nodes above
      // their two connections, hung up on each other, do not dial each other again.
      const links = (d: DaemonProcess) => live.filter((o) => o !== d && connectedNow(d, o.peerId)).length
      const [t, s] = live.slice(1).filter((d) => links(d) > TARGET_PEERS)
      if (t !== undefined && s !== undefined) {
        await partition(t, [s.peerId])
        await partition(s, [t.peerId])
        await waitFor('the link to be down', () => !connectedNow(s, t.peerId))
        await partition(t, [])
        await partition(s, [])
        ;[target, strangers] = [t, [s]]
      }
    }
    expect(strangers.length, 'every live node is connected to every other').toBeGreaterThan(0)

    const stream = await attackers[0]!.dialProtocol(multiaddr(target.joinAddr), STATE_PROTOCOL)
    const state = decodeNodeState((await lpStream(stream).read()).subarray())
    await stream.close()
    if (!state.ok) throw new Error(state.reason)

    const forgedAt = Date.now()
    const note = encodeMemberNote({
      kind: 'down',
      node: target.peerId,
      incarnation: state.value.incarnation,
      seq: state.value.seq,
    })
    await Promise.all(gossips.map((gossip) => gossip.publish(MEMBERS_TOPIC, note)))
    const believed = () =>
      strangers.filter((d) => loggedAt(d, 'member reported down', target.peerId, forgedAt))
    // The target hears the forgery too and refutes it; wherever it took effect (a node that does
    // not hear the target directly), the refutation undoes it. Whether a stranger believes it
    // first is a race with the fast detector's links (it did not in about half the runs).
    await waitFor(
      'the target to refute the forged report',
      () => target.hasLog('reported down while up: refuting'),
      { timeoutMs: 5000 },
    )
    await waitFor('the target to be alive everywhere again', () => allSee(live, target.peerId, 'alive'), {
      timeoutMs: 5000,
    })
    const backAt = strangers.map((d) => loggedAt(d, 'member back', target.peerId, forgedAt) ?? Number.NaN)
    console.log(
      `forged report believed by ${believed().length} of ${strangers.length} unconnected nodes; back after ${backAt.map((t) => t - forgedAt).join(', ')} ms`,
    )
    for (const d of believed()) expect(d.hasLog('member back', { member: target.peerId })).toBe(true)
  })
})
