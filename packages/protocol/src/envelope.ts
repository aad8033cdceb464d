import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { toString as bytesToString, fromString } from 'uint8arrays'
import type { z } from 'zod'

/** Wire protocol version carried in every envelope. */
export const PROTOCOL_VERSION = 1

/** The outcome of decoding untrusted bytes: a value, or the reason it was refused. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string }

/**
 * Envelopes of this many bytes or more go deflated: NodeStates with their promises are most of
 * the gossip, and their JSON repeats the same keys in every promise (a state of 10 promises
 * deflates to about a third; docs/design.md, "Deflated envelopes").
 */
export const DEFLATE_FROM_BYTES = 512
/** The first byte of a deflated envelope; a JSON one starts with `{`. */
const DEFLATED = 0x01

/**
 * Encodes a value in the versioned envelope `{"v":1,"t":kind,"b":body}` as UTF-8 JSON, deflated
 * (raw DEFLATE after one marker byte) from DEFLATE_FROM_BYTES up when that is smaller. JSON keeps
 * version 1 debuggable; the size of each message kind is measured in `bench/`.
 */
export function encodeEnvelope(kind: string, body: unknown): Uint8Array {
  return packEnvelope(envelopeJson(kind, body))
}

/** The envelope's JSON, before `packEnvelope`: its length is what a decoder's limit bounds. */
export const envelopeJson = (kind: string, body: unknown): Uint8Array =>
  fromString(JSON.stringify({ v: PROTOCOL_VERSION, t: kind, b: body }))

/** An envelope's JSON as sent: deflated when long enough and smaller for it. */
export function packEnvelope(json: Uint8Array): Uint8Array {
  if (json.byteLength < DEFLATE_FROM_BYTES) return json
  const deflated = deflateRawSync(json)
  if (deflated.byteLength + 1 >= json.byteLength) return json
  const packed = new Uint8Array(deflated.byteLength + 1)
  packed[0] = DEFLATED
  packed.set(deflated, 1)
  return packed
}

/**
 * Decodes an envelope of the given kind and validates its body against a schema. Never throws:
 * anything oversized, unparsable, of another version or kind, or invalid comes back as a reason.
 * `maxBytes` bounds the JSON, deflated or not: a deflated envelope is inflated no further.
 */
export function decodeEnvelope<S extends z.ZodType>(
  bytes: Uint8Array,
  kind: string,
  schema: S,
  maxBytes: number,
): Decoded<z.output<S>> {
  return decodeEnvelopeWith(bytes, kind, maxBytes, (body) => {
    const result = schema.safeParse(body)
    return result.success
      ? { ok: true, value: result.data }
      : { ok: false, reason: formatIssues(result.error.issues) }
  })
}

/** `decodeEnvelope` with a checker of the body in place of a schema (it must never throw). */
export function decodeEnvelopeWith<T>(
  bytes: Uint8Array,
  kind: string,
  maxBytes: number,
  check: (body: unknown) => Decoded<T>,
): Decoded<T> {
  if (bytes.byteLength > maxBytes) {
    return { ok: false, reason: `message is ${bytes.byteLength} bytes, over the ${maxBytes} byte limit` }
  }
  let json = bytes
  if (bytes[0] === DEFLATED) {
    try {
      json = inflateRawSync(bytes.subarray(1), { maxOutputLength: maxBytes })
    } catch {
      return { ok: false, reason: `message does not inflate to valid data within the ${maxBytes} byte limit` }
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(bytesToString(json))
  } catch {
    return { ok: false, reason: 'message is not valid JSON' }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: 'message is not an envelope object' }
  }
  const envelope = parsed as Record<string, unknown>
  if (envelope.v !== PROTOCOL_VERSION) {
    return { ok: false, reason: `unsupported protocol version ${JSON.stringify(envelope.v)}` }
  }
  if (envelope.t !== kind) {
    return { ok: false, reason: `expected a ${kind} message, got ${JSON.stringify(envelope.t)}` }
  }
  return check(envelope.b)
}

/** Lists every schema problem at its field path, e.g. `capacity.cpuMillis: expected number`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], root = ''): string {
  return issues
    .map((issue) => {
      const path = [root, ...issue.path.map(String)].filter((part) => part !== '').join('.')
      return path === '' ? issue.message : `${path}: ${issue.message}`
    })
    .join('; ')
}
