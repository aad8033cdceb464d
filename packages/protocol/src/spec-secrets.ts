import { z } from 'zod'
import { SecretNameSchema } from './secrets.js'

/**
 * A secret a workload reads: the value of `name`, as the file `/run/secrets/<target>` with
 * `mode`. `version` is the secret's version the spec was declared against (`secretVersion`):
 * part of the generation, so a changed secret rolls the workloads that read it; absent while
 * the secret does not exist.
 */
export interface WorkloadSecret {
  name: string
  target: string
  mode: number
  version?: string
}

/** The default file mode of a secret: readable by every user of the container, as Swarm's. */
export const DEFAULT_SECRET_MODE = 0o444
/** Most secrets one workload reads. */
export const MAX_WORKLOAD_SECRETS = 64

/** A file name under /run/secrets: no directory, no `.` or `..`. */
const targetSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/,
    "is not a file name under /run/secrets (letters, digits, '.', '_' and '-')",
  )
const modeSchema = z.number().int().min(0).max(0o777)

/** A mode as people write it: 0o440 or 288 as a number, or the octal digits as a string ("0440"). */
const inputModeSchema = z.union([
  modeSchema,
  z
    .string()
    .regex(/^0?[0-7]{3}$/, 'is not an octal file mode such as "0440"')
    .transform((text) => Number.parseInt(text, 8)),
])

const uniqueTargets = (secrets: { name: string; target?: string }[]) =>
  new Set(secrets.map((s) => s.target ?? s.name)).size === secrets.length
const DUPLICATE_TARGET = 'two secrets would be the same file under /run/secrets: give one another target'

/** `secrets` as stored and sent between nodes. */
export const WorkloadSecretsSchema = z
  .array(
    z.strictObject({
      name: SecretNameSchema,
      target: targetSchema,
      mode: modeSchema,
      version: z
        .string()
        .regex(/^[0-9a-f]{12}$/)
        .optional(),
    }),
  )
  .max(MAX_WORKLOAD_SECRETS)
  .refine(uniqueTargets, DUPLICATE_TARGET)

/** `secrets` as a spec file writes it: names, or `{name, target?, mode?}`. */
export const InputSecretsSchema = z
  .array(
    z.union([
      SecretNameSchema,
      z.strictObject({
        name: SecretNameSchema,
        target: targetSchema.optional(),
        mode: inputModeSchema.optional(),
      }),
    ]),
  )
  .max(MAX_WORKLOAD_SECRETS)
  .transform((list) => list.map((item) => (typeof item === 'string' ? { name: item } : item)))
  .refine(uniqueTargets, DUPLICATE_TARGET)

/** The normalised list: every target and mode filled in. */
export const workloadSecretsOf = (input: z.output<typeof InputSecretsSchema>): WorkloadSecret[] =>
  input.map((secret) => ({
    name: secret.name,
    target: secret.target ?? secret.name,
    mode: secret.mode ?? DEFAULT_SECRET_MODE,
  }))
