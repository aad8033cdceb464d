import type { Decoded } from '@gary/protocol'
import type { z } from 'zod'

// Stream protocols between nodes (logs, events) carry length-prefixed JSON frames: encoded as
// they are, decoded and validated here at the edge, so a peer's bad frame is one sentence.

export function encodeJsonFrame(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}

/** `bytes` as `what`, checked against `schema`; never throws. */
export function decodeJsonFrame<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): Decoded<T> {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    return { ok: false, reason: `${what} is not UTF-8 JSON` }
  }
  const result = schema.safeParse(json)
  if (result.success) return { ok: true, value: result.data }
  const issue = result.error.issues[0]
  const path = issue?.path.length ? `${issue.path.join('.')}: ` : ''
  return { ok: false, reason: `bad ${what}: ${path}${issue?.message ?? 'invalid'}` }
}
