import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from 'it-length-prefixed-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import { readClusterKey } from '../packages/node/src/net/cluster-key.js'
import { Gossip } from '../packages/node/src/net/gossip.js'
import { createP2P, type P2P } from '../packages/node/src/net/p2p.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import { cleanup, DaemonProcess, runCli, waitFor } from '../packages/node/src/testing/index.js'
import {
  encodeHeartbeat,
  encodeNodeState,
  type Hlc,
  type NodeState,
  type SlotPromise,
} from '../packages/protocol/src/index.js'
import { converged, docker, psEverywhere } from './cluster-checks.js'
import { dockerForTests } from './docker-required.js'

// A member holding the cluster key lies: it publishes `running` promises for every slot. A lie
// about the slots' age no longer takes them from their honest holders; a lie the rules must
// believe does, until an operator bans the member from any node.

const TOPIC = 'gary/1/default/state'
const HEARTBEAT = '/gary/default/heartbeat/1.0.0'
const STATE = '/gary/default/state/1.0.0'
const REPLICAS = 3

const available = await dockerForTests('a lying member on Docker')

describe.runIf(available)('a member that lies about its promises', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let liar: P2P
  let liarId: string
  let generation: string
  let declaredAt: Hlc
  let state: NodeState
  let beating: NodeJS.Timeout | undefined

  /** Publishes the liar's next state: every slot of `web` running since `since`. */
  const lie = async (since: Hlc) => {
    const promises: SlotPromise[] = Array.from({ length: REPLICAS }, (_, slot) => ({
      workload: 'web',
      slot,
      generation,
      phase: 'running',
      since,
      ready: true,
      endpoints: [],
    }))
    state = { ...state, seq: state.seq + 1, promises }
    await new Gossip(liar.services.pubsub).publish(TOPIC, encodeNodeState(state)).catch(() => {})
    // Every node holds the lie (pulled after the heartbeat announced it, if the gossip was lost).
    await waitFor('every node to hold the lie', async () => {
      for (const d of daemons) {
        const node = (await d.cli<NodeView[]>('nodes')).find((n) => n.id === liarId)
        if (node?.seq !== state.seq || node.state !== 'alive') return false
      }
      return true
    })
  }
  const webContainers = async () =>
    (await docker.list({ [LABELS.workload]: 'web' }))
      .filter((c) => c.state === 'running' && daemons.some((d) => d.peerId === c.labels[LABELS.node]))
      .map((c) => c.id)
      .sort()
  const liarRows = async () => (await psEverywhere(daemons)).flat().filter((row) => row.node === liarId)

  beforeAll(async () => {
    const files = await DaemonProcess.tempDir('gary-liar-')
    dirs.push(files)
    const keyFile = join(files, 'cluster.key')
    await writeFile(keyFile, await runCli(['keygen']))
    const args = [
      '--runtime',
      'docker',
      '--cpu',
      '2',
      '--memory',
      '2Gi',
      '--cluster-key',
      keyFile,
      '--label',
      'role=honest',
    ]
    for (let i = 0; i < 3; i++) {
      const dataDir = await DaemonProcess.tempDir()
      dirs.push(dataDir)
      const join = i === 0 ? [] : [daemons[0]!.joinAddr]
      daemons.push(await new DaemonProcess({ dataDir, join, args, startTimeoutMs: 60_000 }).start())
    }
    const spec = join(files, 'web.yaml')
    await writeFile(spec, 'name: web\nimage: gary/busybox:test\ncommand: [sleep, "3600"]\nreplicas: 3\n')
    await daemons[0]!.cli('apply', '-f', spec)
    await converged(daemons, { web: REPLICAS })
    const web = await daemons[0]!.cli<{ generation: string; version: { hlc: Hlc } }>('inspect', 'web')
    generation = web.generation
    declaredAt = web.version.hlc

    liar = await createP2P({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      clusterKey: await readClusterKey(keyFile),
      allow: [],
    })
    liarId = liar.peerId.toString()
    state = {
      node: liarId,
      incarnation: Date.now(),
      seq: 0,
      addrs: [],
      labels: {},
      capacity: { cpuMillis: 1_000_000, memoryBytes: 2 ** 50 },
      draining: false,
      promises: [],
      refusals: [],
    }
    await liar.handle(STATE, async ({ stream }) => {
      await lpStream(stream).write(encodeNodeState(state))
      await stream.close()
    })
    const gossip = new Gossip(liar.services.pubsub)
    gossip.subscribe(TOPIC, () => 'accept')
    const a: PeerId = (await liar.dial(multiaddr(daemons[0]!.joinAddr))).remotePeer
    const beats = lpStream(await liar.dialProtocol(a, HEARTBEAT))
    const beat = () =>
      beats
        .write(
          encodeHeartbeat({
            incarnation: state.incarnation,
            seq: state.seq,
            members: '00000000',
            decls: '0000000000000000',
            wall: Date.now(),
          }),
        )
        .catch(() => {})
    beating = setInterval(() => void beat(), 300)
    await waitFor('the liar in the mesh', () => gossip.meshPeers(TOPIC) > 0)
  }, 120_000)

  afterAll(async () => {
    clearInterval(beating)
    await liar?.stop()
    await cleanup(daemons, dirs)
    for (const daemon of daemons)
      for (const container of await docker.list({ [LABELS.node]: daemon.peerId }))
        await docker.remove(container.id).catch(() => {})
  })

  it('keeps the honest holders running when it lies about the slots’ age', async () => {
    const before = await webContainers()
    expect(before).toHaveLength(REPLICAS)
    await lie({ wall: 1, logical: 0 })
    expect(await liarRows(), 'slots any node lists as the liar’s').toEqual([])
    // A workload declared after the lie runs: every node has planned with the lie in view. (On
    // honest nodes only: the liar's capacity would draw it, and the liar would not run it.)
    const files = dirs[0]!
    await writeFile(
      join(files, 'probe.yaml'),
      'name: probe\nimage: gary/busybox:test\ncommand: [sleep, "3600"]\nconstraints:\n  role: honest\n',
    )
    await daemons[1]!.cli('apply', '-f', join(files, 'probe.yaml'))
    await converged(daemons, { web: REPLICAS, probe: 1 })
    expect(await webContainers(), 'the honest holders’ containers of web').toEqual(before)
  }, 60_000)

  it('takes the slots with a lie the rules believe, until a node bans it; then every slot runs on honest nodes', async () => {
    // `since` just after the earliest the rules believe: the declaration, less the offset bound.
    await lie({ wall: declaredAt.wall - 400, logical: 0 })
    await waitFor('the honest holders to let web go', async () => (await webContainers()).length === 0)

    const banned = await daemons[2]!.cli<{ changed: boolean }>('node', 'ban', liarId)
    expect(banned.changed).toBe(true)
    await waitFor('every node to drop the liar’s connections', () => liar.getConnections().length === 0)
    await converged(daemons, { web: REPLICAS, probe: 1 })
    // From the ban, as the banning node logged it, to the last of web's slots running again.
    const time = (line: { time?: unknown } | undefined) => (line?.time as number | undefined) ?? Number.NaN
    const at = time(daemons[2]!.logs.find((line) => line.msg === 'member banned'))
    const movedMs =
      Math.max(
        ...daemons.flatMap((d) =>
          d.logs.filter((l) => l.msg === 'running' && l.workload === 'web' && time(l) >= at).map(time),
        ),
      ) - at
    expect(await liarRows()).toEqual([])
    for (const d of daemons) expect(d.hasLog('member banned', { peer: liarId })).toBe(true)
    // Its dials are refused once the connection is encrypted: none stays open.
    await liar.dial(multiaddr(daemons[1]!.joinAddr)).catch(() => undefined)
    await waitFor('the node to refuse the banned member’s dial', () => liar.getConnections().length === 0)
    console.log(`slots back on honest nodes ${movedMs} ms after the ban`)
  }, 60_000)
})
