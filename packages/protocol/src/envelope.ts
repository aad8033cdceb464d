import { toString as bytesToString, fromString } from 'uint8arrays'
import type { z } from 'zod'

/** Wire protocol version carried in every envelope. */
export const PROTOCOL_VERSION = 1

/** The outcome of decoding untrusted bytes: a value, or the reason it was refused. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string }

/**
 * Encodes a value in the versioned envelope `{"v":1,"t":kind,"b":body}` as UTF-8 JSON. JSON keeps
 * version 1 debuggable; the size of each message kind is measured in `bench/`.
 */
export function encodeEnvelope(kind: string, body: unknown): Uint8Array {
  return fromString(JSON.stringify({ v: PROTOCOL_VERSION, t: kind, b: body }))
}

/**
 * Decodes an envelope of the given kind and validates its body against a schema. Never throws:
 * anything oversized, unparsable, of another version or kind, or invalid comes back as a reason.
 */
export function decodeEnvelope<S extends z.ZodType>(
  bytes: Uint8Array,
  kind: string,
  schema: S,
  maxBytes: number,
): Decoded<z.output<S>> {
  if (bytes.byteLength > maxBytes) {
    return { ok: false, reason: `message is ${bytes.byteLength} bytes, over the ${maxBytes} byte limit` }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(bytesToString(bytes))
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
  const result = schema.safeParse(envelope.b)
  if (!result.success) return { ok: false, reason: formatIssues(result.error.issues) }
  return { ok: true, value: result.data }
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
