import { type Decoded, WorkloadNameSchema } from '@gary/protocol'
import { z } from 'zod'
import { decodeJsonFrame, encodeJsonFrame } from '../net/json-frames.js'

// The wire format of `/gary/<cluster>/volume-rm/1.0.0`: one request, one answer, each
// length-prefixed JSON, validated here at the edge.

/** Largest request, bytes. */
export const MAX_VOLUME_REQUEST_BYTES = 1024
/** Largest answer, bytes: up to 1024 volumes named, or a sentence. */
export const MAX_VOLUME_ANSWER_BYTES = 256 * 1024
const MAX_MESSAGE_CHARS = 2048

const VolumeRequestSchema = z.strictObject({
  workload: WorkloadNameSchema,
  slot: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/)
    .optional(),
})

const VolumeAnswerSchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), removed: z.array(z.string().max(200)).max(1024) }),
  z.strictObject({
    ok: z.literal(false),
    kind: z.enum(['none', 'in-use', 'bad-request', 'failed']),
    message: z.string().max(MAX_MESSAGE_CHARS),
  }),
])

export type VolumeRequest = z.infer<typeof VolumeRequestSchema>
export type VolumeAnswer = z.infer<typeof VolumeAnswerSchema>

export const encodeVolumeMessage = (message: VolumeRequest | VolumeAnswer): Uint8Array =>
  encodeJsonFrame(message)

export const decodeVolumeRequest = (bytes: Uint8Array): Decoded<VolumeRequest> =>
  decodeJsonFrame(VolumeRequestSchema, bytes, 'volume request')

export const decodeVolumeAnswer = (bytes: Uint8Array): Decoded<VolumeAnswer> =>
  decodeJsonFrame(VolumeAnswerSchema, bytes, 'volume answer')

/** A message cut to what an answer carries. */
export const cutMessage = (text: string): string =>
  text.length <= MAX_MESSAGE_CHARS ? text : `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…`
