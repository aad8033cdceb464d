/** A chunk of a libp2p stream's source: a Uint8Array or a Uint8ArrayList. */
export type Chunk = Uint8Array | { subarray(): Uint8Array }

/** A frame announced longer than the reader takes. */
export class FrameTooLongError extends Error {
  override readonly name = 'FrameTooLongError'
  constructor(length: number, max: number) {
    super(`frame of ${length} bytes is longer than ${max}`)
  }
}

/**
 * Reads the frames of a stream written by it-length-prefixed-stream (each an unsigned varint
 * length, then that many bytes) and hands each to `onFrame` as soon as it is whole; stops at the
 * end of the source, or when `onFrame` says false (returns false then). Heartbeats come several
 * a second on every link: it-length-prefixed-stream's reader took two reads, a list and a copy a
 * frame. A frame is a view into the chunk it came in, valid during `onFrame` only.
 */
export async function readFrames(
  source: AsyncIterable<Chunk>,
  maxBytes: number,
  onFrame: (frame: Uint8Array) => boolean,
): Promise<boolean> {
  let held: Uint8Array | undefined
  for await (const chunk of source) {
    let bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    if (held !== undefined) {
      const joined = new Uint8Array(held.byteLength + bytes.byteLength)
      joined.set(held)
      joined.set(bytes, held.byteLength)
      bytes = joined
      held = undefined
    }
    let at = 0
    for (;;) {
      const header = readLength(bytes, at, maxBytes)
      if (header === undefined || header.end + header.length > bytes.byteLength) break
      at = header.end + header.length
      if (!onFrame(bytes.subarray(header.end, at))) return false
    }
    if (at < bytes.byteLength) held = bytes.slice(at)
  }
  return true
}

/** The varint length at `at` and where its frame starts; undefined while its bytes are not all in. */
function readLength(
  bytes: Uint8Array,
  at: number,
  maxBytes: number,
): { length: number; end: number } | undefined {
  let length = 0
  for (let i = at, shift = 1; i < bytes.byteLength; i++, shift *= 128) {
    const byte = bytes[i]!
    length += (byte & 0x7f) * shift
    // Past `maxBytes`, or zeros continued past its length's last byte (held, they would pile up).
    if (length > maxBytes || shift > maxBytes) throw new FrameTooLongError(length, maxBytes)
    if (byte < 0x80) return { length, end: i + 1 }
  }
  return undefined
}
