import { yamux } from '@chainsafe/libp2p-yamux'
import type { ComponentLogger, Logger, StreamMuxer } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { returnWindowCreditByHalves } from '../src/net/yamux-window.js'

const silent: ComponentLogger = {
  forComponent: () =>
    Object.assign(() => {}, {
      enabled: false,
      trace: () => {},
      error: () => {},
      newScope: () => silent,
    }) as never as Logger,
}

type Chunk = Uint8Array | { subarray(): Uint8Array }

/** Two yamux ends joined in memory; counts the bytes the answering end sends back. */
function pair() {
  const factory = yamux()({ logger: silent })
  const answered: { stream?: AsyncIterable<Chunk> } = {}
  const dialler = factory.createStreamMuxer({ direction: 'outbound' })
  const listener = factory.createStreamMuxer({
    direction: 'inbound',
    onIncomingStream: (stream) => {
      answered.stream = stream.source
    },
  })
  const back = { bytes: 0 }
  const counted = async function* (source: AsyncIterable<Chunk>) {
    for await (const chunk of source) {
      back.bytes += chunk instanceof Uint8Array ? chunk.byteLength : chunk.subarray().byteLength
      yield chunk
    }
  }
  void listener.sink(dialler.source as never)
  void dialler.sink(counted(listener.source as never) as never)
  return { dialler, answered, back }
}

/** Writes `frames` one at a time, each read on its own (as heartbeats come) when `spaced`. */
async function send(dialler: StreamMuxer, frames: Uint8Array[], spaced = false) {
  const stream = await dialler.newStream()
  void stream.sink(
    (async function* () {
      for (const frame of frames) {
        yield frame
        if (spaced) await new Promise((r) => setTimeout(r, 1))
      }
    })(),
  )
  return stream
}

async function readAll(answered: { stream?: AsyncIterable<Chunk> }, bytes: number): Promise<number> {
  for (let i = 0; answered.stream === undefined && i < 100; i++) await new Promise((r) => setTimeout(r, 5))
  let read = 0
  for await (const chunk of answered.stream!) {
    read += chunk instanceof Uint8Array ? chunk.byteLength : chunk.subarray().byteLength
    if (read >= bytes) break
  }
  return read
}

describe('yamux window credit', () => {
  it('is returned by halves: 200 small frames read cost no window update each', async () => {
    returnWindowCreditByHalves()
    const { dialler, answered, back } = pair()
    const frames = Array.from({ length: 200 }, () => new Uint8Array(27))
    await send(dialler, frames, true)
    expect(await readAll(answered, 200 * 27)).toBe(200 * 27)
    await new Promise((r) => setTimeout(r, 20))
    // The stream's acknowledgement and the muxers' round-trip pings (12-byte headers, 36 bytes);
    // eagerly, every frame read sent a window update back (some 2400 bytes more).
    expect(back.bytes, 'window updates sent back for 200 frames read').toBeLessThanOrEqual(5 * 12)
  })

  it('still lets a transfer far past one window through', async () => {
    returnWindowCreditByHalves()
    const { dialler, answered } = pair()
    const frames = Array.from({ length: 64 }, () => new Uint8Array(16 * 1024))
    await send(dialler, frames)
    expect(await readAll(answered, 64 * 16 * 1024)).toBe(64 * 16 * 1024)
  })
})
