import { type Decoded, PROTOCOL_VERSION } from './envelope.js'
import { MAX_HLC_WALL } from './hlc.js'
import { type Heartbeat, MAX_HEARTBEAT_BYTES } from './node-state.js'

// The heartbeat is the one message every node sends to every peer every second, so it is binary
// rather than JSON: version, kind, incarnation, seq and the sender's wall clock as LEB128 varints,
// then the 4-byte members digest and the 8-byte declarations digest. 27 bytes instead of ~110
// JSON ones cuts idle traffic (bench/membership).
const KIND = 0x68 // 'h'
/** A heartbeat that asks for one back at once (a roll call). */
const KIND_ASK = 0x61 // 'a'
/** A short beat: the sender's last full heartbeat on this stream holds, its clock advanced. */
const KIND_SHORT = 0x73 // 's'

/**
 * A short beat: 2 bytes, where a full heartbeat is 27. Fast detection beats 3 ring successors every
 * 150 ms, and between full heartbeats (once a second, or on any change) nothing in the frame but
 * the clock moves: at 10 nodes on loopback the full frames made most of the idle traffic.
 */
export function encodeShortBeat(): Uint8Array {
  return Uint8Array.of(PROTOCOL_VERSION, KIND_SHORT)
}

/** Whether a frame is a short beat (anything else is decoded as a full heartbeat). */
export function isShortBeat(bytes: Uint8Array): boolean {
  return bytes.byteLength === 2 && bytes[0] === PROTOCOL_VERSION && bytes[1] === KIND_SHORT
}

export function encodeHeartbeat(beat: Heartbeat): Uint8Array {
  const bytes: number[] = [PROTOCOL_VERSION, beat.ask === true ? KIND_ASK : KIND]
  writeVarint(bytes, beat.incarnation)
  writeVarint(bytes, beat.seq)
  writeVarint(bytes, beat.wall)
  pushHex(bytes, beat.members)
  pushHex(bytes, beat.decls)
  return Uint8Array.from(bytes)
}

/** Decodes a heartbeat; never throws. Anything but exactly one well-formed heartbeat is refused. */
export function decodeHeartbeat(bytes: Uint8Array): Decoded<Heartbeat> {
  if (bytes.byteLength > MAX_HEARTBEAT_BYTES) {
    return {
      ok: false,
      reason: `heartbeat is ${bytes.byteLength} bytes, over the ${MAX_HEARTBEAT_BYTES} byte limit`,
    }
  }
  if (bytes[0] !== PROTOCOL_VERSION) return { ok: false, reason: `unsupported protocol version ${bytes[0]}` }
  if (bytes[1] !== KIND && bytes[1] !== KIND_ASK) return { ok: false, reason: 'not a heartbeat' }
  const cursor = { at: 2 }
  const incarnation = readVarint(bytes, cursor)
  const seq = readVarint(bytes, cursor)
  const wall = readVarint(bytes, cursor)
  if (incarnation === undefined || seq === undefined || wall === undefined)
    return { ok: false, reason: 'heartbeat has a malformed varint' }
  if (bytes.byteLength !== cursor.at + 12) return { ok: false, reason: 'heartbeat has the wrong length' }
  const members = hex(bytes.subarray(cursor.at, cursor.at + 4))
  const decls = hex(bytes.subarray(cursor.at + 4))
  // The bounds of HeartbeatSchema, checked by hand: every peer's full beat is decoded here, and a
  // schema parse cost more than the rest of the decode (the digests are hex of the right length
  // by construction). codec.test.ts checks that whatever decodes passes the schema.
  if (incarnation > Number.MAX_SAFE_INTEGER || seq > Number.MAX_SAFE_INTEGER || wall > MAX_HLC_WALL)
    return { ok: false, reason: 'heartbeat is out of range' }
  const beat: Heartbeat = { incarnation, seq, members, decls, wall }
  if (bytes[1] === KIND_ASK) beat.ask = true
  return { ok: true, value: beat }
}

function pushHex(out: number[], digits: string): void {
  for (let i = 0; i < digits.length; i += 2) out.push(Number.parseInt(digits.slice(i, i + 2), 16))
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')

function writeVarint(out: number[], value: number): void {
  let rest = value
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  out.push(rest)
}

/** Reads an unsigned LEB128 varint of at most 8 bytes (values up to 2^56, past any safe integer we send). */
function readVarint(bytes: Uint8Array, cursor: { at: number }): number | undefined {
  let value = 0
  let scale = 1
  for (let i = 0; i < 8; i++) {
    const byte = bytes[cursor.at++]
    if (byte === undefined) return undefined
    value += (byte & 0x7f) * scale
    if ((byte & 0x80) === 0) return value
    scale *= 0x80
  }
  return undefined
}
