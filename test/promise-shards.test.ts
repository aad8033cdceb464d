import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import { cleanup, DaemonProcess, waitFor } from '../packages/node/src/testing/index.js'
import { inScope, shardOf } from '../packages/protocol/src/index.js'
import { containersOf, docker } from './cluster-checks.js'
import { dockerForTests } from './docker-required.js'
import { HOOKS, partition } from './partition-hook.js'

// Ring shards end to end: real daemons cut into 4 shards, on one real Docker engine. Each node's
// promise changes reach only the nodes of its own and the neighbouring shards, yet every slot
// runs exactly once; membership is partial: a node keeps a member out of its scope only while
// connected to it.

const SHARDS = 4
/** Nodes wanted in each shard: every shard has one, so every slot has nodes that may hold it. */
const LAYOUT = [2, 1, 2, 1]
const REPLICAS = 12
const NODE_ARGS = ['--runtime', 'docker', '--cpu', '2', '--memory', '2Gi', '--promise-shards', String(SHARDS)]
const SPEC = `name: web\nimage: gary/busybox:test\ncommand: [sleep, "3600"]\nreplicas: ${REPLICAS}\n`

/**
 * Data dirs holding peer keys drawn until the shards have the nodes LAYOUT asks for: node ids are
 * random, and without this a run could put every node in two neighbouring shards, where no pair
 * is out of scope.
 */
async function dataDirsByLayout(): Promise<string[]> {
  const wanted = [...LAYOUT]
  const dirs: string[] = []
  while (wanted.some((n) => n > 0)) {
    const key = await generateKeyPair('Ed25519')
    const shard = shardOf(peerIdFromPrivateKey(key).toString(), SHARDS)
    if (wanted[shard] === 0) continue
    wanted[shard]!--
    const dir = await DaemonProcess.tempDir()
    await writeFile(join(dir, 'peer.key'), privateKeyToProtobuf(key), { mode: 0o600 })
    dirs.push(dir)
  }
  return dirs
}

const available = await dockerForTests('promise shards on Docker')

describe.runIf(available)('promise shards on a shared Docker engine', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []

  /** What is wrong with the running containers, or undefined: each slot runs once, promised running by its node. */
  const violation = async (): Promise<string | undefined> => {
    const containers = await containersOf(daemons)
    const slots = containers.flat().map((c) => Number(c.labels[LABELS.slot]))
    const sorted = [...slots].sort((a, b) => a - b)
    const once = Array.from({ length: REPLICAS }, (_, slot) => slot)
    if (JSON.stringify(sorted) !== JSON.stringify(once)) return `slots running: ${sorted.join(',')}`
    for (const [index, daemon] of daemons.entries()) {
      // A node's own promises are current in its own view, whatever the shards.
      const own = (await daemon.cli<SlotRow[]>('ps')).filter((row) => row.node === daemon.peerId)
      for (const container of containers[index]!) {
        const slot = Number(container.labels[LABELS.slot])
        if (!own.some((row) => row.slot === slot && row.phase === 'running' && row.ready))
          return `slot ${slot} runs on ${daemon.peerId} without its promise`
      }
    }
    return undefined
  }

  beforeAll(async () => {
    dirs.push(...(await dataDirsByLayout()))
    const first = await new DaemonProcess({ dataDir: dirs[0]!, args: NODE_ARGS, testHooks: HOOKS }).start()
    daemons.push(first)
    for (const dir of dirs.slice(1))
      daemons.push(
        await new DaemonProcess({
          dataDir: dir,
          join: [first.joinAddr],
          args: NODE_ARGS,
          testHooks: HOOKS,
        }).start(),
      )
    await waitFor(
      'every node to list every node of its scope alive',
      async () => {
        for (const d of daemons) {
          const alive = new Set(
            (await d.cli<NodeView[]>('nodes')).filter((n) => n.state === 'alive').map((n) => n.id),
          )
          if (daemons.some((other) => inScope(d.peerId, other.peerId, SHARDS) && !alive.has(other.peerId)))
            return false
        }
        return true
      },
      { timeoutMs: 30_000 },
    )
  })

  afterAll(async () => {
    await cleanup(daemons, dirs)
    for (const daemon of daemons) {
      for (const container of await docker.list({ [LABELS.node]: daemon.peerId }))
        await docker.remove(container.id).catch(() => {})
    }
  })

  /** A node holding slots and a node out of its scope, found by the first test. */
  let pair: { holder: DaemonProcess; far: DaemonProcess } | undefined
  const held = async (d: DaemonProcess, member: DaemonProcess) =>
    (await d.cli<NodeView[]>('nodes')).find((n) => n.id === member.peerId)

  it('runs every slot exactly once, with promise changes kept to neighbouring shards', async () => {
    const path = join(dirs[0]!, 'web.yaml')
    await writeFile(path, SPEC)
    const startedAt = Date.now()
    await daemons[0]!.cli('apply', '-f', path)
    await waitFor(
      'each slot to run exactly once',
      async () => {
        const wrong = await violation()
        // Thrown, so that a timeout says what was still wrong.
        if (wrong !== undefined) throw new Error(wrong)
        return true
      },
      { timeoutMs: 60_000 },
    )
    console.log(
      `${REPLICAS} slots on ${daemons.length} nodes in ${SHARDS} shards: ${Date.now() - startedAt} ms`,
    )

    // A node holding slots, one out of its scope and one in it: one exists for any holder, since
    // every shard has a node.
    const holders = await containersOf(daemons)
    const holder = daemons.find((_, i) => holders[i]!.length > 0)!
    const far = daemons.find((d) => !inScope(d.peerId, holder.peerId, SHARDS))!
    const near = daemons.find(
      (d) => d !== holder && shardOf(d.peerId, SHARDS) === (shardOf(holder.peerId, SHARDS) + 1) % SHARDS,
    )!
    const heldBy = async (d: DaemonProcess) => (await held(d, holder))!
    // The holder's state no longer changes once its slots run; the node in scope catches up with it.
    const current = await waitFor('the node in scope to hold the holder’s current state', async () => {
      const seq = (await heldBy(holder)).seq
      return (await heldBy(near)).seq === seq ? seq : undefined
    })
    // The far node knows the holder while connected to it (every node here is connected to
    // every other). Which version of its state it holds is not asserted: a member sync may relay a
    // newer state.
    const seenFar = await heldBy(far)
    expect(seenFar.state).toBe('alive')
    console.log(
      `holder's state: seq ${current}; held in scope: ${current}; held out of scope: ${seenFar.seq}`,
    )
    // What each lists of the holder's slots follows: the far node lists none of them, the near one all.
    const listed = async (d: DaemonProcess) =>
      (await d.cli<SlotRow[]>('ps')).filter((row) => row.node === holder.peerId).length
    expect(await listed(far)).toBe(0)
    expect(await listed(near)).toBe(holders[daemons.indexOf(holder)]!.length)
    expect(await violation()).toBeUndefined()
    pair = { holder, far }
    // Past the default 60 s: the wait for the slots alone may take 60 s, and says what is wrong.
  }, 90_000)

  it('forgets a member out of scope once their connection is cut, which its scope still holds alive', async () => {
    if (pair === undefined) throw new Error('the first test found no holder')
    const { holder, far } = pair
    // Rather than reporting it down: nobody that keeps the holder hears from the far node about it.
    await partition(far, [holder.peerId])
    const forgets = (d: DaemonProcess, member: DaemonProcess) => async () =>
      (await held(d, member)) === undefined
    await waitFor('the far node to forget the holder', forgets(far, holder))
    await waitFor('the holder to forget the far node', forgets(holder, far))
    for (const d of daemons.filter((d) => d !== holder && inScope(d.peerId, holder.peerId, SHARDS)))
      expect((await held(d, holder))?.state).toBe('alive')
    expect(await violation()).toBeUndefined()
    await partition(far, [])
  })
})
