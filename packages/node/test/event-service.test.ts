import type { ClusterEvent } from '@gary/protocol'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from 'it-length-prefixed-stream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  decodeEventFrame,
  decodeEventRequest,
  encodeEventFrame,
  MAX_EVENTS_PER_REQUEST,
} from '../src/events/frames.js'
import { BoundedQueue } from '../src/events/queue.js'
import { EventRing } from '../src/events/ring.js'
import { type EventItem, EventService } from '../src/events/service.js'
import { createP2P, type P2P } from '../src/net/p2p.js'
import { waitFor } from '../src/testing/index.js'

const bytes = (text: string) => new TextEncoder().encode(text)

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

describe('the event ring', () => {
  test('keeps the newest events, numbered and in clock order, and lists them by filter', () => {
    let wall = 1000
    const ring = new EventRing({ capacity: 3 }, { self: 'n1', wallNow: () => wall })
    for (const slot of [0, 1, 2, 3])
      ring.record({ kind: 'claimed', workload: 'web', slot, because: { rule: 'free' } })
    ring.record({ kind: 'dead', member: 'n2' })
    wall = 500 // a clock that stepped back still moves the ring's clock forward
    ring.record({ kind: 'declared', workload: 'db' })
    const all = ring.list({})
    expect(all.map((e) => e.seq)).toEqual([4, 5, 6])
    expect(all.map((e) => e.at)).toEqual([
      { wall: 1000, logical: 3 },
      { wall: 1000, logical: 4 },
      { wall: 1000, logical: 5 },
    ])
    expect(ring.list({ workload: 'web' }).map((e) => e.slot)).toEqual([3])
    expect(ring.list({ node: 'n2' }).map((e) => e.kind)).toEqual(['dead'])
    expect(ring.list({}, 1).map((e) => e.seq)).toEqual([6])
  })

  test('a queue whose reader falls too far behind ends rather than grows', async () => {
    const queue = new BoundedQueue<number>(2)
    queue.push(1)
    queue.push(2)
    queue.push(3)
    await expect(collect(queue)).rejects.toMatchObject({ name: 'QueueOverflowError' })
  })
})

describe('event requests and frames', () => {
  test.each([
    ['not JSON', '{"follow":'],
    ['an unknown field', '{"follow":false,"limit":1,"all":true}'],
    ['a limit past the most', `{"follow":false,"limit":${MAX_EVENTS_PER_REQUEST + 1}}`],
    ['no limit', '{"follow":false}'],
    ['a bad workload name', '{"follow":false,"limit":1,"workload":"Web!"}'],
  ])('refuses a request with %s', (_, text) => {
    expect(decodeEventRequest(bytes(text)).ok).toBe(false)
  })

  const event: ClusterEvent = { node: 'n1', seq: 1, at: { wall: 1, logical: 0 }, kind: 'exited', code: 137 }
  test.each([
    ['an unknown kind', { ...event, kind: 'exploded' }],
    ['an unknown rule', { ...event, kind: 'claimed', because: { rule: 'whim' } }],
    ['a reason past 512 characters', { ...event, reason: 'x'.repeat(513) }],
    ['a fractional number', { ...event, seq: 1.5 }],
    ['a clock past any date', { ...event, at: { wall: 2 ** 60, logical: 0 } }],
  ])('refuses an event with %s', (_, bad) => {
    expect(decodeEventFrame(bytes(JSON.stringify({ type: 'event', event: bad }))).ok).toBe(false)
  })
})

describe('EventService over real libp2p connections', () => {
  const logger = pino({ level: 'silent' })
  let holder: P2P
  let reader: P2P
  let liar: P2P
  let holderRing: EventRing
  let readerRing: EventRing
  let holderEvents: EventService
  let readerEvents: EventService
  let members: string[] = []
  let holderId: string
  let liarId: string
  let wall = 10_000

  beforeAll(async () => {
    const node = async () =>
      createP2P({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], allow: [] })
    ;[holder, reader, liar] = await Promise.all([node(), node(), node()])
    holderId = holder.peerId.toString()
    liarId = liar.peerId.toString()
    holderRing = new EventRing({}, { self: holderId, wallNow: () => (wall += 10) })
    readerRing = new EventRing({}, { self: reader.peerId.toString(), wallNow: () => (wall += 10) })
    const service = (libp2p: P2P, ring: EventRing) =>
      new EventService(
        { cluster: 'test', openTimeoutMs: 3000, rejoinMs: 50 },
        { libp2p, ring, logger, self: libp2p.peerId.toString(), wallNow: () => wall, members: () => members },
      )
    holderEvents = service(holder, holderRing)
    readerEvents = service(reader, readerRing)
    await holderEvents.start()
    await readerEvents.start()
    await reader.dial(holder.getMultiaddrs()[0]!)
    await reader.dial(liar.getMultiaddrs()[0]!)
  })

  afterAll(async () => {
    await readerEvents?.stop()
    await holderEvents?.stop()
    await Promise.all([holder?.stop(), reader?.stop(), liar?.stop()])
  })

  test('merges its own events with a member’s, in clock order, filtered at the source', async () => {
    members = [holderId]
    holderRing.record({ kind: 'claimed', workload: 'web', slot: 0, because: { rule: 'free' } })
    readerRing.record({ kind: 'declared', workload: 'web' })
    holderRing.record({ kind: 'started', workload: 'web', slot: 0 })
    holderRing.record({ kind: 'declared', workload: 'db' })
    const items = await collect(
      await readerEvents.read({
        filter: { workload: 'web' },
        follow: false,
        signal: new AbortController().signal,
      }),
    )
    expect(items.map((item) => ('event' in item ? item.event.kind : item.error))).toEqual([
      'claimed',
      'declared',
      'started',
    ])
  })

  test('following delivers new events of every member; stopping ends the member’s stream', async () => {
    members = [holderId]
    const reading = new AbortController()
    const items = await readerEvents.read({
      filter: { sinceWall: wall + 1 },
      follow: true,
      signal: reading.signal,
    })
    const seen: EventItem[] = []
    const done = (async () => {
      for await (const item of items) seen.push(item)
    })()
    holderRing.record({ kind: 'exited', workload: 'web', slot: 0, code: 137 })
    readerRing.record({ kind: 'dead', member: liarId })
    await waitFor('both new events', () => seen.length === 2)
    expect(seen.map((item) => 'event' in item && item.event.kind).sort()).toEqual(['dead', 'exited'])
    reading.abort()
    await done
  })

  test('following picks up a member that appears after the read began, from when the read began', async () => {
    members = []
    holderRing.record({ kind: 'declared', workload: 'before' })
    wall += 1 // a millisecond passes before the read
    const reading = new AbortController()
    const items = await readerEvents.read({ filter: {}, follow: true, signal: reading.signal })
    const seen: EventItem[] = []
    const done = (async () => {
      for await (const item of items) seen.push(item)
    })()
    const fromHolder = () =>
      seen.flatMap((item) => ('event' in item && item.event.node === holderId ? [item.event] : []))
    await waitFor('the backlog of the reader itself', () => seen.length > 0)
    // The holder joins: what it records from now on reaches the follower, what it had before not.
    holderRing.record({ kind: 'declared', workload: 'after' })
    members = [holderId]
    await waitFor('the newcomer’s event', () => fromHolder().some((e) => e.workload === 'after'))
    holderRing.record({ kind: 'declared', workload: 'later' })
    await waitFor('the newcomer followed', () => fromHolder().some((e) => e.workload === 'later'))
    expect(fromHolder().map((e) => e.workload)).toEqual(['after', 'later'])
    reading.abort()
    await done
  })

  test('a member that speaks for another node, or sends more than asked, gives an error, not events', async () => {
    const forged: ClusterEvent = {
      node: holderId,
      seq: 1,
      at: { wall: 1, logical: 0 },
      kind: 'dead',
      member: 'x',
    }
    let own = 0
    await liar.handle(holderEvents.protocol, ({ stream }) => {
      const lp = lpStream(stream)
      void (async () => {
        await lp.read()
        // Its own events, one more than any request may get; or one of another node's.
        if (own++ === 0) await lp.write(encodeEventFrame({ type: 'event', event: forged }))
        else
          for (let seq = 1; seq <= 3; seq++)
            await lp.write(encodeEventFrame({ type: 'event', event: { ...forged, node: liarId, seq } }))
        await lp.write(encodeEventFrame({ type: 'end' }))
      })().catch(() => {})
    })
    members = [liarId]
    const read = async (limit: number) =>
      collect(
        await readerEvents.read({ filter: {}, limit, follow: false, signal: new AbortController().signal }),
      )
    const first = await read(10)
    expect(first.filter((item) => 'event' in item && item.event.node !== reader.peerId.toString())).toEqual(
      [],
    )
    expect(first).toContainEqual({
      node: liarId,
      error: expect.stringContaining('a node speaks only for itself'),
    })
    const second = await read(2)
    expect(second).toContainEqual({
      node: liarId,
      error: expect.stringContaining('more than the 2 events asked for'),
    })
  })

  test('a hostile request gets an error frame, an oversized one a reset', async () => {
    const ask = async (payload: Uint8Array) => {
      const stream = await reader.dialProtocol(holder.peerId, holderEvents.protocol)
      const lp = lpStream(stream)
      await lp.write(payload)
      try {
        return decodeEventFrame((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
      } finally {
        stream.abort(new Error('done'))
      }
    }
    expect(await ask(bytes('{"follow":false,"limit":-1}'))).toMatchObject({
      ok: true,
      value: { type: 'error' },
    })
    await expect(ask(new Uint8Array(64 * 1024))).rejects.toThrow()
  })
})
