import fc from 'fast-check'
import { lpStream } from 'it-length-prefixed-stream'
import { describe, expect, it } from 'vitest'
import { FrameTooLongError, readFrames } from '../src/net/frame-reader.js'

/** What it-length-prefixed-stream writes for `frames`: each as one chunk of its own. */
async function written(frames: Uint8Array[]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  const duplex = {
    source: (async function* () {})(),
    sink: async (source: AsyncIterable<Uint8Array | { subarray(): Uint8Array }>) => {
      for await (const chunk of source) chunks.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
    },
  }
  const lp = lpStream(duplex as never)
  for (const frame of frames) await lp.write(frame)
  return Uint8Array.from(chunks.flatMap((chunk) => [...chunk]))
}

/** `bytes` cut at `cuts` (positions, any order, repeats allowed): chunks as a socket may deliver them. */
async function* cut(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let from = 0
  for (const at of [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b)) {
    yield bytes.slice(from, at)
    from = at
  }
  yield bytes.slice(from)
}

async function read(source: AsyncIterable<Uint8Array>, max: number) {
  const frames: number[][] = []
  const valid = await readFrames(source, max, (frame) => {
    frames.push([...frame])
    return true
  })
  return { valid, frames }
}

describe('readFrames', () => {
  it('reads back what it-length-prefixed-stream wrote, however the bytes are cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (frames, cuts) => {
          const bytes = await written(frames)
          const got = await read(cut(bytes, cuts), 300)
          expect(got).toEqual({ valid: true, frames: frames.map((f) => [...f]) })
        },
      ),
    )
  })

  it('refuses a frame announced longer than the bound, and a length that never ends, before holding them', async () => {
    const long = await written([new Uint8Array(65)])
    await expect(read(cut(long, [1]), 64)).rejects.toBeInstanceOf(FrameTooLongError)
    // Zeros with the continuation bit set: a length of 0 that goes on, byte after byte.
    const endless = (async function* () {
      for (let i = 0; i < 1000; i++) yield Uint8Array.of(0x80)
    })()
    await expect(read(endless, 64)).rejects.toBeInstanceOf(FrameTooLongError)
  })

  it('stops at the first frame its reader refuses, and says so', async () => {
    const bytes = await written([Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)])
    const seen: number[] = []
    const valid = await readFrames(cut(bytes, []), 64, (frame) => {
      seen.push(frame[0]!)
      return frame[0] !== 2
    })
    expect({ valid, seen }).toEqual({ valid: false, seen: [1, 2] })
  })
})
