import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from 'it-length-prefixed-stream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { decodeRotationAnswer, encodeRotationFrame } from '../src/mesh/rotation-frames.js'
import { RotationService } from '../src/mesh/rotation-service.js'
import { createP2P, type P2P } from '../src/net/p2p.js'
import { waitFor } from '../src/testing/index.js'

const bytes = (text: string) => new TextEncoder().encode(text)

/** A peer's mesh, as far as the service asks it: each question waits until the test answers it. */
class PeerMesh {
  readonly asked: { node: string; container: string; answer: (out: boolean) => void }[] = []
  outOfRotation = (node: string, container: string, signal: AbortSignal): Promise<boolean> =>
    new Promise((resolve) => {
      this.asked.push({ node, container, answer: resolve })
      signal.addEventListener('abort', () => resolve(false), { once: true })
    })
}

describe('RotationService over real libp2p connections', () => {
  const logger = pino({ level: 'silent' })
  const query = { workload: 'web', slot: 0, container: 'c0' }
  let holder: P2P
  let peer: P2P
  let older: P2P
  let holderRotation: RotationService
  let peerRotation: RotationService
  const mesh = new PeerMesh()
  let peerId: string
  let olderId: string
  const everyone = () => true

  beforeAll(async () => {
    const node = async () =>
      createP2P({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], allow: [] })
    ;[holder, peer, older] = await Promise.all([node(), node(), node()])
    peerId = peer.peerId.toString()
    olderId = older.peerId.toString()
    holderRotation = new RotationService(
      { cluster: 'test', timeoutMs: 60_000, liveCheckMs: 20 },
      { libp2p: holder, logger, outOfRotation: async () => true },
    )
    peerRotation = new RotationService(
      { cluster: 'test', timeoutMs: 60_000 },
      { libp2p: peer, logger, outOfRotation: mesh.outOfRotation },
    )
    await holderRotation.start()
    await peerRotation.start()
    await holder.dial(peer.getMultiaddrs()[0]!)
    await holder.dial(older.getMultiaddrs()[0]!)
  })

  afterAll(async () => {
    await holderRotation?.stop()
    await peerRotation?.stop()
    await Promise.all([holder?.stop(), peer?.stop(), older?.stop()])
  })

  test('waits until the peer’s mesh has taken the slot out, and asks only about the asker’s own slot', async () => {
    mesh.asked.length = 0
    let settled = false
    const confirming = holderRotation.confirm(query, [peerId], everyone, new AbortController().signal)
    void confirming.then(() => {
      settled = true
    })
    await waitFor('the peer’s mesh asked', () => mesh.asked.length === 1)
    expect(mesh.asked[0]).toMatchObject({ node: holder.peerId.toString(), container: 'c0' })
    expect(settled).toBe(false)
    mesh.asked[0]!.answer(true)
    expect(await confirming).toEqual({ confirmed: [peerId], unconfirmed: [], gone: [] })
  })

  test('a peer whose mesh still routes to the slot, and one that does not speak the protocol, are named with why', async () => {
    mesh.asked.length = 0
    const confirming = holderRotation.confirm(
      query,
      [peerId, olderId],
      everyone,
      new AbortController().signal,
    )
    await waitFor('the peer’s mesh asked', () => mesh.asked.length === 1)
    mesh.asked[0]!.answer(false)
    const answers = await confirming
    expect(answers.confirmed).toEqual([])
    expect(answers.unconfirmed).toEqual([
      { peer: peerId, reason: 'it still sends connections to the slot' },
      { peer: olderId, reason: expect.stringMatching(/^cannot ask it: /) },
    ])
  })

  test('stops waiting for a peer that dies while asked', async () => {
    mesh.asked.length = 0
    let alive = true
    const confirming = holderRotation.confirm(query, [peerId], () => alive, new AbortController().signal)
    await waitFor('the peer’s mesh asked', () => mesh.asked.length === 1)
    alive = false
    expect(await confirming).toEqual({ confirmed: [], unconfirmed: [], gone: [peerId] })
  })

  test('drops a malformed query without asking the mesh', async () => {
    mesh.asked.length = 0
    for (const bad of [
      '{"workload":"web"',
      '{"workload":"Web!","slot":0,"container":"c"}',
      'x'.repeat(600),
    ]) {
      const stream = await holder.dialProtocol(peer.peerId, peerRotation.protocol)
      const lp = lpStream(stream)
      await lp.write(bytes(bad))
      await expect(lp.read({ signal: AbortSignal.timeout(10_000) })).rejects.toThrow()
    }
    // A well-formed one on the same connection is still answered.
    const stream = await holder.dialProtocol(peer.peerId, peerRotation.protocol)
    const lp = lpStream(stream)
    await lp.write(encodeRotationFrame(query))
    await waitFor('the peer’s mesh asked', () => mesh.asked.length === 1)
    mesh.asked[0]!.answer(true)
    expect(decodeRotationAnswer((await lp.read()).subarray())).toEqual({ ok: true, value: { out: true } })
  })
})
