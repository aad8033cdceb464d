import { type Decoded, MAX_REPLICAS, WorkloadNameSchema } from '@gary/protocol'
import { z } from 'zod'
import { decodeJsonFrame, encodeJsonFrame } from '../net/json-frames.js'

// The wire format of `/gary/<cluster>/logs/1.0.0`: one request, then answer frames, each
// length-prefixed JSON, validated here at the edge.

/** Longest log line carried between nodes, characters; longer lines are cut (Docker splits at 16 KiB). */
export const MAX_LOG_LINE_CHARS = 16 * 1024
/** Largest log request, bytes. */
export const MAX_LOG_REQUEST_BYTES = 1024
/** Largest log frame, bytes: a longest line whose characters JSON escapes at up to 6 bytes each. */
export const MAX_LOG_FRAME_BYTES = 6 * MAX_LOG_LINE_CHARS + 1024
/** Largest `tail` a request may ask for. */
export const MAX_LOG_TAIL = 1_000_000
/** Longest error message carried, characters. */
export const MAX_ERROR_CHARS = 1024

const LogRequestSchema = z.strictObject({
  workload: WorkloadNameSchema,
  slot: z
    .number()
    .int()
    .min(0)
    .max(MAX_REPLICAS - 1),
  follow: z.boolean(),
  tail: z.number().int().min(0).max(MAX_LOG_TAIL).optional(),
  /** The slot's last exited container (or a refused slot's kept lines), not the one running. */
  previous: z.boolean().optional(),
})

const LogFrameSchema = z.discriminatedUnion('type', [
  // The holder holds the slot: lines follow.
  z.strictObject({ type: z.literal('ok') }),
  z.strictObject({
    type: z.literal('line'),
    stream: z.enum(['stdout', 'stderr']),
    line: z.string().max(MAX_LOG_LINE_CHARS),
  }),
  // No more lines: not following, or the container's process exited.
  z.strictObject({ type: z.literal('end') }),
  z.strictObject({
    type: z.literal('error'),
    code: z.enum(['bad-request', 'not-held', 'failed']),
    message: z.string().max(MAX_ERROR_CHARS),
  }),
])

/** What a node asks the holder of a slot for: the first frame on a log stream. */
export type LogRequest = z.infer<typeof LogRequestSchema>
/** What the holder answers, one frame at a time: `ok` or `error`, then `line`s, then `end` or `error`. */
export type LogFrame = z.infer<typeof LogFrameSchema>

export function encodeLogRequest(request: LogRequest): Uint8Array {
  return encodeJsonFrame(request)
}

export function encodeLogFrame(frame: LogFrame): Uint8Array {
  return encodeJsonFrame(frame)
}

export function decodeLogRequest(bytes: Uint8Array): Decoded<LogRequest> {
  return decodeJsonFrame(LogRequestSchema, bytes, 'log request')
}

export function decodeLogFrame(bytes: Uint8Array): Decoded<LogFrame> {
  return decodeJsonFrame(LogFrameSchema, bytes, 'log frame')
}

/** Cuts a line to what a frame carries, marking the cut. */
export function cutLine(line: string): string {
  return line.length <= MAX_LOG_LINE_CHARS ? line : `${line.slice(0, MAX_LOG_LINE_CHARS - 1)}…`
}
