import { ClusterEventSchema, type Decoded, WorkloadNameSchema } from '@gary/protocol'
import { z } from 'zod'
import { decodeJsonFrame, encodeJsonFrame } from '../net/json-frames.js'

// The wire format of `/gary/<cluster>/events/1.0.0`: one request, then answer frames, each
// length-prefixed JSON, validated here at the edge.

/** Largest event request, bytes. */
export const MAX_EVENT_REQUEST_BYTES = 1024
/** Largest event frame, bytes: an event whose longest reason JSON escapes at 6 bytes a character. */
export const MAX_EVENT_FRAME_BYTES = 8 * 1024
/** Most events a node sends back for one request, before following. */
export const MAX_EVENTS_PER_REQUEST = 10_000
/** Longest error message carried, characters. */
export const MAX_EVENT_ERROR_CHARS = 1024

const EventRequestSchema = z.strictObject({
  follow: z.boolean(),
  limit: z.number().int().min(1).max(MAX_EVENTS_PER_REQUEST),
  since: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  workload: WorkloadNameSchema.optional(),
  node: z.string().min(1).max(128).optional(),
})

const EventFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('event'), event: ClusterEventSchema }),
  // The events recorded so far have been sent: what follows is new.
  z.strictObject({ type: z.literal('live') }),
  // Not following: no more events.
  z.strictObject({ type: z.literal('end') }),
  z.strictObject({
    type: z.literal('error'),
    message: z.string().max(MAX_EVENT_ERROR_CHARS),
  }),
])

/** What a node asks another for: the first frame on an event stream. */
export type EventRequest = z.infer<typeof EventRequestSchema>
/** What it answers: `event`s (at most `limit`), then `end`, or `live` and `event`s as they come; or an `error`. */
export type EventFrame = z.infer<typeof EventFrameSchema>

export const encodeEventRequest = (request: EventRequest): Uint8Array => encodeJsonFrame(request)
export const encodeEventFrame = (frame: EventFrame): Uint8Array => encodeJsonFrame(frame)

export const decodeEventRequest = (bytes: Uint8Array): Decoded<EventRequest> =>
  decodeJsonFrame(EventRequestSchema, bytes, 'event request')
export const decodeEventFrame = (bytes: Uint8Array): Decoded<EventFrame> =>
  decodeJsonFrame(EventFrameSchema, bytes, 'event frame')
