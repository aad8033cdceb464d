import { type Decoded, WorkloadNameSchema } from '@gary/protocol'
import { z } from 'zod'
import { decodeJsonFrame, encodeJsonFrame } from '../net/json-frames.js'

// The wire format of `/gary/<cluster>/rotation/1.0.0`: the holder of a released slot asks a peer
// whether its mesh still sends connections to the slot's container; one request, one answer,
// each length-prefixed JSON, validated here at the edge.

/** Largest request or answer, bytes. */
export const MAX_ROTATION_FRAME_BYTES = 512

const RotationQuerySchema = z.strictObject({
  workload: WorkloadNameSchema,
  slot: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  container: z.string().min(1).max(128),
})

/** `out`: the peer's forwarding (its kernel table included) no longer holds the container. */
const RotationAnswerSchema = z.strictObject({ out: z.boolean() })

/** A released slot's container, asked about by the node that held it. */
export type RotationQuery = z.infer<typeof RotationQuerySchema>
export type RotationAnswer = z.infer<typeof RotationAnswerSchema>

export const encodeRotationFrame = (message: RotationQuery | RotationAnswer): Uint8Array =>
  encodeJsonFrame(message)

export const decodeRotationQuery = (bytes: Uint8Array): Decoded<RotationQuery> =>
  decodeJsonFrame(RotationQuerySchema, bytes, 'rotation query')

export const decodeRotationAnswer = (bytes: Uint8Array): Decoded<RotationAnswer> =>
  decodeJsonFrame(RotationAnswerSchema, bytes, 'rotation answer')
