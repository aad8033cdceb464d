import { FakeRuntime, type LogLine, type LogOptions } from '@gary/runtime'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from 'it-length-prefixed-stream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { SlotRow } from '../src/api/slot-rows.js'
import {
  cutLine,
  decodeLogFrame,
  decodeLogRequest,
  encodeLogFrame,
  encodeLogRequest,
  MAX_LOG_LINE_CHARS,
} from '../src/logs/frames.js'
import { LogService } from '../src/logs/service.js'
import { logSources, readSources } from '../src/logs/sources.js'
import { createP2P, type P2P } from '../src/net/p2p.js'
import { waitFor } from '../src/testing/index.js'

const bytes = (text: string) => new TextEncoder().encode(text)

describe('log requests and frames', () => {
  test('a request and each kind of frame round-trip', () => {
    const request = { workload: 'web', slot: 3, follow: true, tail: 10 }
    expect(decodeLogRequest(encodeLogRequest(request))).toEqual({ ok: true, value: request })
    for (const frame of [
      { type: 'ok' },
      { type: 'line', stream: 'stderr', line: 'boom' },
      { type: 'end' },
      { type: 'error', code: 'not-held', message: 'slot web/3 is not held by this node' },
    ] as const) {
      expect(decodeLogFrame(encodeLogFrame(frame))).toEqual({ ok: true, value: frame })
    }
  })

  test.each([
    ['not JSON', '{"workload":'],
    ['not UTF-8', '\xff'],
    ['an unknown field', '{"workload":"web","slot":0,"follow":false,"since":1}'],
    ['a bad workload name', '{"workload":"Web!","slot":0,"follow":false}'],
    ['a negative slot', '{"workload":"web","slot":-1,"follow":false}'],
    ['a fractional slot', '{"workload":"web","slot":0.5,"follow":false}'],
    ['a slot past any workload', '{"workload":"web","slot":10000,"follow":false}'],
    ['a huge tail', '{"workload":"web","slot":0,"follow":false,"tail":1e12}'],
    ['no follow', '{"workload":"web","slot":0}'],
  ])('refuses a request with %s', (_, text) => {
    const data = text === '\xff' ? Uint8Array.of(0xff) : bytes(text)
    expect(decodeLogRequest(data).ok).toBe(false)
  })

  test.each([
    ['an unknown type', { type: 'lines', lines: [] }],
    ['an unknown stream', { type: 'line', stream: 'stdin', line: 'x' }],
    ['a line over the limit', { type: 'line', stream: 'stdout', line: 'x'.repeat(MAX_LOG_LINE_CHARS + 1) }],
    ['an unknown error code', { type: 'error', code: 'teapot', message: 'x' }],
    ['an extra field', { type: 'end', lines: 3 }],
  ])('refuses a frame with %s', (_, frame) => {
    expect(decodeLogFrame(bytes(JSON.stringify(frame))).ok).toBe(false)
  })

  test('a long line is cut to what a frame carries, and still fits one', () => {
    const cut = cutLine('\u0001'.repeat(MAX_LOG_LINE_CHARS * 2))
    expect(cut).toHaveLength(MAX_LOG_LINE_CHARS)
    expect(decodeLogFrame(encodeLogFrame({ type: 'line', stream: 'stdout', line: cut })).ok).toBe(true)
  })
})

describe('logSources', () => {
  const row = (
    slot: number,
    node: string,
    phase: SlotRow['phase'],
    containerId: string | null = 'c',
  ): SlotRow => ({
    workload: 'web',
    slot,
    node,
    phase,
    ready: phase === 'running',
    containerId,
    generation: 'g',
    since: null,
    ageMs: null,
  })

  test('picks one node per slot, preferring a running container, and skips slots without one', () => {
    const rows = [
      row(0, 'a', 'releasing'),
      row(0, 'b', 'running'),
      row(1, 'a', 'claimed', null),
      row(2, 'c', 'failed'),
      { ...row(3, 'a', 'running'), workload: 'db' },
    ]
    expect(logSources(rows, 'web')).toEqual([
      { slot: 0, node: 'b' },
      { slot: 2, node: 'c' },
    ])
    expect(logSources(rows, 'web', { slot: 0 })).toEqual([{ slot: 0, node: 'b' }])
    expect(logSources(rows, 'web', { slot: 1 })).toEqual([])
  })

  test('a global workload has a source on every node', () => {
    const rows = [row(0, 'b', 'running'), row(0, 'a', 'running')]
    expect(logSources(rows, 'web', { global: true })).toEqual([
      { slot: 0, node: 'a' },
      { slot: 0, node: 'b' },
    ])
  })
})

/** A fake runtime that counts the log reads still open. */
class WatchedRuntime extends FakeRuntime {
  reading = 0
  override async *logs(id: string, options?: LogOptions): AsyncIterable<LogLine> {
    this.reading++
    try {
      yield* super.logs(id, options)
    } finally {
      this.reading--
    }
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

describe('LogService over a real libp2p connection', () => {
  const logger = pino({ level: 'silent' })
  const runtime = new WatchedRuntime()
  let holder: P2P
  let reader: P2P
  let liar: P2P
  let holderLogs: LogService
  let readerLogs: LogService
  let container: string
  let holderId: string
  let located: string | undefined

  beforeAll(async () => {
    const node = async () =>
      createP2P({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], allow: [] })
    ;[holder, reader, liar] = await Promise.all([node(), node(), node()])
    holderId = holder.peerId.toString()
    container = (await runtime.run({ name: 'web-1', image: 'img', command: ['server'], labels: {} })).id
    for (const line of ['one', 'two', 'three']) runtime.appendLog(container, line)
    runtime.appendLog(container, 'oops', 'stderr')
    holderLogs = new LogService(
      { cluster: 'test' },
      {
        libp2p: holder,
        runtime,
        logger,
        self: holderId,
        locate: () => holderId,
        ownContainer: (workload, slot) => (workload === 'web' && slot === 1 ? container : undefined),
      },
    )
    readerLogs = new LogService(
      { cluster: 'test' },
      {
        libp2p: reader,
        runtime: new FakeRuntime(),
        logger,
        self: reader.peerId.toString(),
        locate: () => located,
        ownContainer: () => undefined,
      },
    )
    await holderLogs.start()
    await readerLogs.start()
    await reader.dial(holder.getMultiaddrs()[0]!)
    await reader.dial(liar.getMultiaddrs()[0]!)
  })

  afterAll(async () => {
    await readerLogs?.stop()
    await holderLogs?.stop()
    await Promise.all([holder?.stop(), reader?.stop(), liar?.stop()])
    await runtime.close()
  })

  test('reads a slot from the node holding it, whole or its tail', async () => {
    located = holderId
    expect(await collect(await readerLogs.open('web', 1))).toEqual([
      { stream: 'stdout', line: 'one' },
      { stream: 'stdout', line: 'two' },
      { stream: 'stdout', line: 'three' },
      { stream: 'stderr', line: 'oops' },
    ])
    const tail = await collect(await readerLogs.open('web', 1, { tail: 2 }))
    expect(tail.map((l) => l.line)).toEqual(['three', 'oops'])
    await waitFor('the holder to close its streams', () => holderLogs.streams === 0)
  })

  test('a node that does not hold the slot says so; a slot nobody holds runs nowhere', async () => {
    located = holderId
    await expect(readerLogs.open('web', 2)).rejects.toMatchObject({
      name: 'SlotNotHeldError',
      message: expect.stringContaining('slot web/2 is not held by this node'),
    })
    located = undefined
    await expect(readerLogs.open('web', 7)).rejects.toMatchObject({ name: 'SlotNotPlacedError' })
  })

  test('following delivers new lines; aborting resets the stream and ends the holder’s read', async () => {
    located = holderId
    const reading = new AbortController()
    const lines = await readerLogs.open('web', 1, { follow: true, tail: 0, signal: reading.signal })
    const seen: string[] = []
    const done = (async () => {
      for await (const { line } of lines) seen.push(line)
    })()
    await waitFor('the holder to read its runtime', () => runtime.reading === 1)
    runtime.appendLog(container, 'four')
    runtime.appendLog(container, 'five')
    await waitFor('the new lines', () => seen.length === 2)
    expect(seen).toEqual(['four', 'five'])
    reading.abort()
    await done
    await waitFor('the holder to stop reading', () => runtime.reading === 0 && holderLogs.streams === 0)
    expect(readerLogs.streams).toBe(0)
  })

  test('several sources: merged when following, one error item for a source that refuses', async () => {
    located = holderId
    const ended = new AbortController()
    const items = await readSources(
      [
        { slot: 1, node: holderId },
        { slot: 2, node: holderId },
      ],
      (source, signal) => readerLogs.open('web', source.slot, { node: source.node, tail: 1, signal }),
      { follow: false, signal: ended.signal },
    )
    expect(await collect(items)).toEqual([
      { slot: 1, node: holderId, stream: 'stdout', line: 'five' },
      { slot: 2, node: holderId, error: `node ${holderId}: slot web/2 is not held by this node` },
    ])
  })

  test('a hostile request gets an error frame, an oversized one a reset', async () => {
    const ask = async (payload: Uint8Array) => {
      const stream = await reader.dialProtocol(holder.peerId, holderLogs.protocol)
      const lp = lpStream(stream)
      await lp.write(payload)
      try {
        return decodeLogFrame((await lp.read({ signal: AbortSignal.timeout(5000) })).subarray())
      } finally {
        stream.abort(new Error('done'))
      }
    }
    const refused = await ask(bytes('{"workload":"web","slot":"1; rm -rf /","follow":false}'))
    expect(refused).toMatchObject({ ok: true, value: { type: 'error', code: 'bad-request' } })
    await expect(ask(new Uint8Array(64 * 1024))).rejects.toThrow()
    await waitFor('the holder to close its streams', () => holderLogs.streams === 0)
  })

  test('a malformed frame from the holder is a LogStreamError', async () => {
    await liar.handle(holderLogs.protocol, ({ stream }) => {
      const lp = lpStream(stream)
      void (async () => {
        await lp.read()
        await lp.write(encodeLogFrame({ type: 'ok' }))
        await lp.write(bytes(JSON.stringify({ type: 'line', stream: 'stdin', line: 'x' })))
      })().catch(() => {})
    })
    const lines = await readerLogs.open('web', 1, { node: liar.peerId.toString() })
    await expect(collect(lines)).rejects.toMatchObject({
      name: 'LogStreamError',
      message: expect.stringContaining('malformed log frame'),
    })
    expect(readerLogs.streams).toBe(0)
  })
})
