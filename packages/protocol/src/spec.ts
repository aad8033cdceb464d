import { Buffer } from 'node:buffer'
import { createHash } from 'node:crypto'
import { type Document, isScalar, isMap as isYamlMap, LineCounter, parseAllDocuments, visit } from 'yaml'
import { z } from 'zod'
import { canonicalJson } from './canonical.js'
import { didYouMean } from './did-you-mean.js'
import { MAX_PATH_CHARS, normalisePath } from './host-path.js'
import { LabelsSchema } from './node-state.js'
import {
  MAX_CPU_MILLIS,
  MAX_MEMORY_BYTES,
  MIN_CPU_MILLIS,
  MIN_MEMORY_BYTES,
  parseCpu,
  parseMemory,
} from './quantity.js'
import { quote } from './quote.js'
import {
  InputSecretsSchema,
  type WorkloadSecret,
  WorkloadSecretsSchema,
  workloadSecretsOf,
} from './spec-secrets.js'
import { scanYaml } from './yaml-scan.js'

/**
 * A workload as Gary stores it and sends it between nodes: the user's spec with every default
 * filled in and every amount in one unit. Produced by `parseWorkloadFile`/`normaliseWorkload`,
 * checked by `WorkloadSchema` when it comes from the network.
 */
export interface Workload {
  name: string
  image: string
  /** Replaces the image's entrypoint. */
  command?: string[]
  /** Replaces the image's arguments (CMD). */
  args?: string[]
  env: Record<string, string>
  mode: 'replicated' | 'global'
  /** Slots to run; always 0 for a global workload, which runs one slot per eligible node. */
  replicas: number
  resources: { cpuMillis: number; memoryBytes: number }
  /**
   * `hostPort`: the engine binds it on the node that runs the slot (none: a port the engine
   * picks). `publishedPort`: the routing mesh serves it on every node (TCP only).
   */
  ports: WorkloadPort[]
  /** Labels a node must carry, with these values, to run the workload. */
  constraints: Record<string, string>
  restart: { policy: 'always' | 'on-failure' | 'never'; maxRetries: number }
  /** Exactly one of `command` and `http` is present. */
  health?: {
    command?: string[]
    http?: { path: string; port: number }
    intervalMs: number
    timeoutMs: number
    retries: number
  }
  update: UpdatePolicy
  labels: Record<string, string>
  /**
   * How many times `gary restart` has asked for fresh containers (absent: never). Part of the
   * generation, as a suffix, so that a restart rolls out like an update while the spec stays the
   * same; carried over by every later apply.
   */
  redeploy?: number
  /** What a node cut off from most of the cluster does with it; absent: the defaults. */
  partition?: PartitionPolicy
  /** Secrets delivered as files under /run/secrets (`spec-secrets.ts`); absent: none. */
  secrets?: WorkloadSecret[]
  /** What is mounted into its containers (absent: nothing). */
  volumes?: WorkloadVolume[]
}

/**
 * One mount, normalised: exactly one of `name` (a volume of the node, one per slot, created on
 * first use and kept when the slot goes) and `source` (a path of the node, mounted only where the
 * node allows it: `--allow-host-path`). Paths are absolute and normalised (`normalisePath`).
 */
export interface WorkloadVolume {
  name?: string
  source?: string
  target: string
  readOnly?: true
}

/** How a new generation replaces the old one (`update` in a spec). */
export interface UpdatePolicy {
  /** Slots a rollout may take out of service at once. */
  maxUnavailable: number
  /** How long a new slot must stay ready to count as updated; a failure before that fails the rollout, ms. */
  monitorMs: number
  /** What a failed rollout does: the previous revision comes back (`rollback`), or it halts (`pause`). */
  failureAction: 'rollback' | 'pause'
  /** `stop-first`: an old slot stops, then its successor starts; `start-first`: the successor runs and is ready first. */
  order: 'stop-first' | 'start-first'
}

/**
 * A workload's partition policy (placement/partition.ts): on a node that sees fewer than half of
 * the members (rule 10), `minority: keep` takes over nothing, `takeover` takes over the others'
 * slots after `afterMs`; `isolated: stop` stops the node's own copies after `stopAfterMs`.
 * Absent fields take the defaults: keep, 60 s, keep, 30 s.
 */
export interface PartitionPolicy {
  minority?: 'keep' | 'takeover'
  afterMs?: number
  isolated?: 'keep' | 'stop'
  stopAfterMs?: number
}

/** One port of a workload, normalised. */
export interface WorkloadPort {
  containerPort: number
  hostPort?: number
  publishedPort?: number
  protocol: 'tcp' | 'udp'
}

export type ParseResult = { ok: true; workloads: Workload[] } | { ok: false; problems: string[] }

/** Largest spec file `parseWorkloadFile` reads, in bytes. */
export const MAX_SPEC_FILE_BYTES = 1024 * 1024
/** Most workloads one spec file may declare. */
export const MAX_WORKLOADS_PER_FILE = 1000
/**
 * Deepest nesting a spec file may have, counting every map, list and value on the way: a spec
 * needs about 6; the YAML parser recurses once per level, and 1000 levels overflowed its stack.
 */
export const MAX_SPEC_DEPTH = 32
export const MAX_REPLICAS = 10_000
/** Most mounts one workload may have. */
export const MAX_VOLUMES = 32

const KI = 1024
const MI = KI * KI
const MAX_DURATION_MS = 24 * 3600 * 1000

export const DEFAULT_CPU_MILLIS = 100
export const DEFAULT_MEMORY_BYTES = 64 * MI
export const DEFAULT_HEALTH_INTERVAL_MS = 10_000
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000
export const DEFAULT_HEALTH_RETRIES = 3
export const DEFAULT_RESTART_MAX_RETRIES = 5
/** Swarm's default `update_config.monitor`: long enough for most crashes at start to show. */
export const DEFAULT_UPDATE_MONITOR_MS = 5_000
/** The largest `redeploy` count a workload carries. */
export const MAX_REDEPLOY = 1_000_000_000

// ---- pieces shared by the input form and the normalised form ----

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/** A workload name: a DNS label, 1 to 63 of a-z, 0-9 and '-', starting and ending alphanumeric. */
export const WorkloadNameSchema = z.string().superRefine((name, ctx) => {
  if (NAME.test(name)) return
  const reason = /[A-Z]/.test(name)
    ? "names are lowercase (a-z, 0-9 and '-')"
    : "use 1 to 63 of a-z, 0-9 and '-', starting and ending with a letter or digit"
  ctx.addIssue({ code: 'custom', message: `${quote(name)} is not a valid name: ${reason}`, input: name })
})
const imageSchema = z.string().min(1).max(255).regex(/^\S+$/, 'must not contain spaces')
const argList = z.array(z.string().max(4096)).max(256)
const envKey = z
  .string()
  .max(256)
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'is not a variable name (letters, digits and _, not starting with a digit)',
  )
const envSchema = z
  .record(envKey, z.string().max(32 * KI))
  .refine((env) => Object.keys(env).length <= 512, 'has more than 512 variables')
const portNumber = z.number().int().min(1).max(65_535)
const protocolSchema = z.enum(['tcp', 'udp'])
const portModeSchema = z.enum(['ingress', 'host'])
const modeSchema = z.enum(['replicated', 'global'])
const replicasSchema = z.number().int().min(0).max(MAX_REPLICAS)
const restartPolicySchema = z.enum(['always', 'on-failure', 'never'])
const maxRetriesSchema = z.number().int().min(0).max(1_000_000)
const healthRetriesSchema = z.number().int().min(1).max(1000)
const maxUnavailableSchema = z.number().int().min(1).max(MAX_REPLICAS)
const failureActionSchema = z.enum(['rollback', 'pause'])
const updateOrderSchema = z.enum(['stop-first', 'start-first'])
const minoritySchema = z.enum(['keep', 'takeover'])
const isolatedSchema = z.enum(['keep', 'stop'])
/** `takeover` and `stop` contradict each other: one side would both take slots over and stop them. */
const consistentPartition = (p: { minority?: string; isolated?: string }) =>
  !(p.minority === 'takeover' && p.isolated === 'stop')
const CONTRADICTORY_PARTITION =
  'minority: takeover and isolated: stop contradict each other (a cut-off node would take slots over and stop them): choose one'
const httpCheckSchema = z.strictObject({
  path: z
    .string()
    .max(1024)
    .regex(/^\/\S*$/, "must start with '/' and contain no spaces"),
  port: portNumber,
})

/** A volume name: Docker's rule for volume names, short enough to sit in Gary's own (`volumeName`). */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
const volumeNameSchema = z
  .string()
  .regex(
    VOLUME_NAME,
    "is not a volume name: use 1 to 63 of letters, digits, '_', '.' and '-', starting with a letter or digit",
  )
/** An absolute path as the user writes it, normalised (`/srv/x/../y` is `/srv/y`). */
const inputPath = z
  .string()
  .max(MAX_PATH_CHARS)
  .transform((path, ctx) => {
    const result = normalisePath(path)
    if (result.ok) return result.path
    ctx.addIssue({ code: 'custom', message: result.problem, input: path })
    return z.NEVER
  })
/** An absolute path as stored: normalised already, or refused. */
const normalPath = z
  .string()
  .max(MAX_PATH_CHARS)
  .refine((path) => {
    const result = normalisePath(path)
    return result.ok && result.path === path
  }, 'is not a normalised absolute path')

/** Two mounts at one target, or a mount over the container's root, cannot work. */
function volumeProblems(volumes: readonly { target?: unknown }[]): { index: number; message: string }[] {
  const problems: { index: number; message: string }[] = []
  const seen = new Map<string, number>()
  volumes.forEach((volume, index) => {
    if (typeof volume.target !== 'string') return
    const result = normalisePath(volume.target)
    if (!result.ok) return
    if (result.path === '/')
      problems.push({ index, message: "target / is the container's root: mount below it" })
    const first = seen.get(result.path)
    if (first === undefined) seen.set(result.path, index)
    else problems.push({ index, message: `target ${result.path} appears twice (also in volumes[${first}])` })
  })
  return problems
}

// ---- the normalised form ----

const HealthSchema = z
  .strictObject({
    command: argList.min(1).optional(),
    http: httpCheckSchema.optional(),
    intervalMs: z.number().int().min(1).max(MAX_DURATION_MS),
    timeoutMs: z.number().int().min(1).max(MAX_DURATION_MS),
    retries: healthRetriesSchema,
  })
  .refine((health) => (health.command === undefined) !== (health.http === undefined), {
    message: 'needs exactly one of command and http',
  })

/**
 * The normalised workload, as stored and sent on the wire. Strict: it validates what other
 * nodes send, so unknown fields and broken invariants are refused rather than guessed at.
 */
export const WorkloadSchema: z.ZodType<Workload> = z
  .strictObject({
    name: WorkloadNameSchema,
    image: imageSchema,
    command: argList.optional(),
    args: argList.optional(),
    env: envSchema,
    mode: modeSchema,
    replicas: replicasSchema,
    resources: z.strictObject({
      cpuMillis: z.number().int().min(MIN_CPU_MILLIS).max(MAX_CPU_MILLIS),
      memoryBytes: z.number().int().min(MIN_MEMORY_BYTES).max(MAX_MEMORY_BYTES),
    }),
    ports: z
      .array(
        z.strictObject({
          containerPort: portNumber,
          hostPort: portNumber.optional(),
          publishedPort: portNumber.optional(),
          protocol: protocolSchema,
        }),
      )
      .max(64),
    constraints: LabelsSchema,
    restart: z.strictObject({ policy: restartPolicySchema, maxRetries: maxRetriesSchema }),
    health: HealthSchema.optional(),
    // Written before monitor, failureAction and order existed, a stored spec lacks them: defaults.
    update: z.strictObject({
      maxUnavailable: maxUnavailableSchema,
      monitorMs: z.number().int().min(0).max(MAX_DURATION_MS).default(DEFAULT_UPDATE_MONITOR_MS),
      failureAction: failureActionSchema.default('rollback'),
      order: updateOrderSchema.default('stop-first'),
    }),
    labels: LabelsSchema,
    redeploy: z.number().int().min(1).max(MAX_REDEPLOY).optional(),
    partition: z
      .strictObject({
        minority: minoritySchema.optional(),
        afterMs: z.number().int().min(1).max(MAX_DURATION_MS).optional(),
        isolated: isolatedSchema.optional(),
        stopAfterMs: z.number().int().min(1).max(MAX_DURATION_MS).optional(),
      })
      .refine(consistentPartition, { message: CONTRADICTORY_PARTITION })
      .optional(),
    secrets: WorkloadSecretsSchema.optional(),
    volumes: z
      .array(
        z
          .strictObject({
            name: volumeNameSchema.optional(),
            source: normalPath.optional(),
            target: normalPath,
            readOnly: z.literal(true).optional(),
          })
          .refine((volume) => (volume.name === undefined) !== (volume.source === undefined), {
            message: 'needs exactly one of name and source',
          }),
      )
      .min(1)
      .max(MAX_VOLUMES)
      .optional(),
  })
  .superRefine((workload, ctx) => {
    for (const problem of volumeProblems(workload.volumes ?? []))
      ctx.addIssue({ code: 'custom', path: ['volumes', problem.index], message: problem.message })
    if (workload.mode === 'global' && workload.replicas !== 0) {
      ctx.addIssue({ code: 'custom', path: ['replicas'], message: 'must be 0 for a global workload' })
    }
    const ports = workload.ports.map((port) => ({
      container: port.containerPort,
      host: port.hostPort,
      published: port.publishedPort,
      protocol: port.protocol,
    }))
    for (const problem of portClashes(ports)) {
      ctx.addIssue({ code: 'custom', path: ['ports', problem.index], message: problem.message })
    }
    workload.ports.forEach((port, index) => {
      if (port.publishedPort !== undefined && port.protocol === 'udp')
        ctx.addIssue({ code: 'custom', path: ['ports', index], message: 'the routing mesh serves TCP only' })
    })
  })

// ---- the input form ----

/** An amount the user writes as a number or a string; `parse` returns the value or a problem. */
const amount = (parse: (value: unknown) => number | string) =>
  z.unknown().transform((value, ctx) => {
    const parsed = parse(value)
    if (typeof parsed === 'number') return parsed
    ctx.addIssue({ code: 'custom', message: parsed, input: value })
    return z.NEVER
  })

const InputSchema = z.strictObject({
  name: WorkloadNameSchema,
  image: imageSchema,
  command: argList.optional(),
  args: argList.optional(),
  env: envSchema.optional(),
  mode: modeSchema.optional(),
  replicas: replicasSchema.optional(),
  resources: z
    .strictObject({ cpu: amount(parseCpu).optional(), memory: amount(parseMemory).optional() })
    .optional(),
  ports: z
    .array(
      z.strictObject({
        container: portNumber,
        host: portNumber.optional(),
        published: portNumber.optional(),
        mode: portModeSchema.optional(),
        protocol: protocolSchema.optional(),
      }),
    )
    .max(64)
    .optional(),
  constraints: LabelsSchema.optional(),
  restart: z
    .strictObject({ policy: restartPolicySchema.optional(), maxRetries: maxRetriesSchema.optional() })
    .optional(),
  health: z
    .strictObject({
      command: argList.min(1).optional(),
      http: httpCheckSchema.optional(),
      interval: amount(parseDuration).optional(),
      timeout: amount(parseDuration).optional(),
      retries: healthRetriesSchema.optional(),
    })
    .optional(),
  update: z
    .strictObject({
      maxUnavailable: maxUnavailableSchema.optional(),
      monitor: amount(parseDurationOrZero).optional(),
      failureAction: failureActionSchema.optional(),
      order: updateOrderSchema.optional(),
    })
    .optional(),
  labels: LabelsSchema.optional(),
  partition: z
    .strictObject({
      minority: minoritySchema.optional(),
      after: amount(parseDuration).optional(),
      isolated: isolatedSchema.optional(),
      stopAfter: amount(parseDuration).optional(),
    })
    .refine(consistentPartition, { message: CONTRADICTORY_PARTITION })
    .optional(),
  secrets: InputSecretsSchema.optional(),
  volumes: z
    .array(
      z.strictObject({
        name: volumeNameSchema.optional(),
        source: inputPath.optional(),
        target: inputPath,
        readOnly: z.boolean().optional(),
      }),
    )
    .max(MAX_VOLUMES)
    .optional(),
})

type Input = z.output<typeof InputSchema>

/**
 * Checks one workload spec in the input form (already parsed from YAML or JSON) and returns it
 * normalised, or every problem found, each at its field path under `path`.
 */
export function normaliseWorkload(value: unknown, path = 'spec'): ParseResult {
  const parsed = InputSchema.safeParse(value, { error: friendlyMessage })
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.flatMap((issue) => describeIssue(issue, path))),
    ...crossFieldProblems(value, path),
  ]
  if (!parsed.success || problems.length > 0) return { ok: false, problems }
  return { ok: true, workloads: [toWorkload(parsed.data)] }
}

/**
 * Reads a spec file: YAML or JSON, one spec per document (`---` between YAML documents), or a
 * list of specs. Either every workload comes back, or every problem of every document does;
 * nothing partial.
 */
export function parseWorkloadFile(text: string): ParseResult {
  try {
    return parseText(text)
  } catch (error) {
    // The limits below should leave nothing that throws; a hostile text that still finds a way
    // is a refused file, not a crash.
    return { ok: false, problems: [`the file cannot be read: ${(error as Error).message}`] }
  }
}

function parseText(text: string): ParseResult {
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > MAX_SPEC_FILE_BYTES) {
    return {
      ok: false,
      problems: [
        `the file is ${bytes} bytes, over the ${MAX_SPEC_FILE_BYTES} byte (1 MiB) limit for a spec file`,
      ],
    }
  }
  // Measured before any parser builds a tree: the parser recurses per level, and allocates a
  // document object per `---`.
  const scan = scanYaml(text, { maxDepth: MAX_SPEC_DEPTH, maxDocuments: MAX_WORKLOADS_PER_FILE })
  if (scan.tooDeepAt !== undefined) {
    return {
      ok: false,
      problems: [
        `the file nests deeper than ${MAX_SPEC_DEPTH} levels at line ${scan.tooDeepAt}: a workload spec needs far fewer`,
      ],
    }
  }
  if (scan.documents > MAX_WORKLOADS_PER_FILE) {
    return {
      ok: false,
      problems: [`the file holds more than ${MAX_WORKLOADS_PER_FILE} documents, the limit`],
    }
  }
  const lineCounter = new LineCounter()
  // yaml's own unique-keys check compares every pair of keys: 72,000 keys took 223 s.
  const documents = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: false, lineCounter })
  const syntax = documents.flatMap((document) =>
    document.errors.map((error) => `YAML syntax error: ${firstLine(error.message)}`),
  )
  if (syntax.length === 0) syntax.push(...duplicateKeys(documents, lineCounter))
  if (syntax.length > 0) return { ok: false, problems: syntax }

  const values: unknown[] = []
  for (const document of documents) {
    let value: unknown
    try {
      // The alias limit stops a "billion laughs" document from expanding without bound.
      value = document.toJS({ maxAliasCount: 100 })
    } catch (error) {
      return { ok: false, problems: [`YAML: ${error instanceof Error ? error.message : String(error)}`] }
    }
    if (value === null || value === undefined) continue // an empty document, e.g. after a trailing `---`
    // One at a time: spreading a list of 260,000 items into push() overflowed the stack.
    if (Array.isArray(value)) for (const item of value as unknown[]) values.push(item)
    else values.push(value)
    if (values.length > MAX_WORKLOADS_PER_FILE) break
  }
  if (values.length === 0) return { ok: false, problems: ['the file holds no workload spec'] }
  if (values.length > MAX_WORKLOADS_PER_FILE) {
    return {
      ok: false,
      problems: [`the file declares more than ${MAX_WORKLOADS_PER_FILE} workloads, the limit`],
    }
  }

  const rootOf = (index: number) => (values.length === 1 ? 'spec' : `spec[${index}]`)
  const problems: string[] = []
  const workloads: Workload[] = []
  const firstSeen = new Map<string, number>()
  values.forEach((value, index) => {
    const result = normaliseWorkload(value, rootOf(index))
    if (result.ok) workloads.push(...result.workloads)
    else problems.push(...result.problems)
    const name = isMap(value) ? value.name : undefined
    if (typeof name !== 'string') return
    const first = firstSeen.get(name)
    if (first === undefined) firstSeen.set(name, index)
    else
      problems.push(`${rootOf(index)}.name: name ${quoteName(name)} appears twice (also in ${rootOf(first)})`)
  })
  if (problems.length === 0) problems.push(...portConflicts(workloads, [], rootOf))
  return problems.length > 0 ? { ok: false, problems } : { ok: true, workloads }
}

/** Keys that appear twice in one map, each with its line: one pass over the keys, not every pair. */
export function duplicateKeys(documents: Document.Parsed[], lines: LineCounter): string[] {
  const problems: string[] = []
  for (const document of documents) {
    visit(document, {
      Map(_, map) {
        if (!isYamlMap(map)) return
        const seen = new Set<unknown>()
        for (const item of map.items) {
          if (!isScalar(item.key)) continue
          const key = item.key.value
          if (!seen.has(key)) {
            seen.add(key)
            continue
          }
          const { line, col } = lines.linePos(item.key.range?.[0] ?? 0)
          problems.push(
            `YAML syntax error: key ${JSON.stringify(String(key))} appears twice in one map at line ${line}, column ${col}`,
          )
        }
      },
    })
  }
  return problems
}

/**
 * The generation of a workload: 12 hex digits of the SHA-256 of the canonical JSON of everything
 * that shapes its containers. When it changes, holders replace their containers (a rollout).
 *
 * Covered: image, command, args, env, resources, ports (but their published port: the mesh serves
 * it, not the container), restart, health and secrets (with their versions); each is part of the container's configuration, so
 * a change needs a new container.
 * Not covered, because a running container need not change when they do:
 * - name: it is the identity of the workload, not its content;
 * - replicas and mode: scaling is not a rollout (DESIGN.md section 4);
 * - update: how to roll out is not what is rolled out;
 * - labels: metadata for people and tools;
 * - constraints: they decide where slots run, not what runs; the placement rules move a slot
 *   whose node stops matching, and replacing the container in place would not help.
 * Absent optional fields are left out of the hash, so a field added later with no value keeps
 * every existing generation, and key order never matters.
 *
 * `gary restart` adds `.N` (the `redeploy` count): the same hash, fresh containers.
 */
export function generationOf(workload: Workload): string {
  let generation = generations.get(workload)
  if (generation === undefined) {
    generation = hashGeneration(workload)
    generations.set(workload, generation)
  }
  return generation
}

/**
 * Generations by declaration object: every reconcile pass describes every workload, and hashing
 * them each time cost 6 % of a simulated cold start at 300 nodes. Declarations are never changed
 * in place (the store replaces an entry), so an object's generation never changes.
 */
const generations = new WeakMap<Workload, string>()

function hashGeneration(workload: Workload): string {
  const shaping = {
    image: workload.image,
    command: workload.command,
    args: workload.args,
    env: workload.env,
    resources: workload.resources,
    // The mesh's port is no part of the container: changing it moves no slot.
    ports: workload.ports.map(({ publishedPort: _, ...port }) => port),
    restart: workload.restart,
    health: workload.health,
    // Which files, and which version of each value: a changed secret is a new generation.
    secrets: workload.secrets,
    volumes: workload.volumes,
  }
  const hash = createHash('sha256').update(canonicalJson(shaping)).digest('hex').slice(0, 12)
  return workload.redeploy === undefined ? hash : `${hash}.${workload.redeploy}`
}

// ---- helpers ----

function toWorkload(input: Input): Workload {
  const mode = input.mode ?? 'replicated'
  const health = input.health
  return {
    name: input.name,
    image: input.image,
    ...(input.command === undefined ? {} : { command: [...input.command] }),
    ...(input.args === undefined ? {} : { args: [...input.args] }),
    env: { ...input.env },
    mode,
    replicas: mode === 'global' ? 0 : (input.replicas ?? 1),
    resources: {
      cpuMillis: input.resources?.cpu ?? DEFAULT_CPU_MILLIS,
      memoryBytes: input.resources?.memory ?? DEFAULT_MEMORY_BYTES,
    },
    ports: (input.ports ?? []).map((port) => {
      // In mode host the published port is the host port, as in Docker's own `mode: host`.
      const host = port.mode === 'host' ? (port.host ?? port.published) : port.host
      const published = port.mode === 'host' ? undefined : port.published
      return {
        containerPort: port.container,
        ...(host === undefined ? {} : { hostPort: host }),
        ...(published === undefined ? {} : { publishedPort: published }),
        protocol: port.protocol ?? 'tcp',
      }
    }),
    constraints: { ...input.constraints },
    restart: {
      policy: input.restart?.policy ?? 'always',
      maxRetries: input.restart?.maxRetries ?? DEFAULT_RESTART_MAX_RETRIES,
    },
    ...(health === undefined
      ? {}
      : {
          health: {
            ...(health.command === undefined ? {} : { command: [...health.command] }),
            ...(health.http === undefined
              ? {}
              : { http: { path: health.http.path, port: health.http.port } }),
            intervalMs: health.interval ?? DEFAULT_HEALTH_INTERVAL_MS,
            timeoutMs: health.timeout ?? DEFAULT_HEALTH_TIMEOUT_MS,
            retries: health.retries ?? DEFAULT_HEALTH_RETRIES,
          },
        }),
    update: {
      maxUnavailable: input.update?.maxUnavailable ?? 1,
      monitorMs: input.update?.monitor ?? DEFAULT_UPDATE_MONITOR_MS,
      failureAction: input.update?.failureAction ?? 'rollback',
      order: input.update?.order ?? 'stop-first',
    },
    labels: { ...input.labels },
    ...(input.partition === undefined ? {} : { partition: partitionOf(input.partition) }),
    ...(input.secrets === undefined || input.secrets.length === 0
      ? {}
      : { secrets: workloadSecretsOf(input.secrets) }),
    ...(input.volumes === undefined || input.volumes.length === 0
      ? {}
      : {
          volumes: input.volumes.map((volume) => ({
            ...(volume.name === undefined ? {} : { name: volume.name }),
            ...(volume.source === undefined ? {} : { source: volume.source }),
            target: volume.target,
            ...(volume.readOnly === true ? { readOnly: true as const } : {}),
          })),
        }),
  }
}

/** The policy as written, in ms; fields left out stay out (the rules fill in the defaults). */
function partitionOf(input: NonNullable<Input['partition']>): PartitionPolicy {
  return {
    ...(input.minority === undefined ? {} : { minority: input.minority }),
    ...(input.after === undefined ? {} : { afterMs: input.after }),
    ...(input.isolated === undefined ? {} : { isolated: input.isolated }),
    ...(input.stopAfter === undefined ? {} : { stopAfterMs: input.stopAfter }),
  }
}

/**
 * Rules that join several fields. They run on the raw input, whatever else is wrong with it, so
 * the user sees every problem at once rather than one round at a time.
 */
function crossFieldProblems(value: unknown, path: string): string[] {
  if (!isMap(value)) return []
  const problems: string[] = []
  // zod silently drops a `__proto__` key from a map; say so rather than lose a setting.
  for (const field of ['env', 'constraints', 'labels']) {
    const map = value[field]
    if (isMap(map) && Object.hasOwn(map, '__proto__'))
      problems.push(`${path}.${field}.__proto__: is a reserved name`)
  }
  if (value.mode === 'global' && Object.hasOwn(value, 'replicas')) {
    problems.push(
      `${path}.replicas: must be left out when mode is global (one replica runs on each eligible node)`,
    )
  }
  const health = value.health
  if (isMap(health)) {
    const hasCommand = Object.hasOwn(health, 'command')
    const hasHttp = Object.hasOwn(health, 'http')
    if (!hasCommand && !hasHttp) problems.push(`${path}.health: needs a check: command or http`)
    if (hasCommand && hasHttp) problems.push(`${path}.health: has both command and http: choose one`)
  }
  if (Array.isArray(value.volumes)) {
    const volumes = value.volumes.map((volume: unknown) => (isMap(volume) ? volume : {}))
    volumes.forEach((volume, index) => {
      const hasName = Object.hasOwn(volume, 'name')
      const hasSource = Object.hasOwn(volume, 'source')
      if (hasName === hasSource)
        problems.push(
          `${path}.volumes[${index}]: ${hasName ? 'has both name and source: choose one' : 'needs name (a volume of the node) or source (a path of the node)'}`,
        )
    })
    for (const problem of volumeProblems(volumes))
      problems.push(`${path}.volumes[${problem.index}]: ${problem.message}`)
  }
  if (Array.isArray(value.ports)) {
    const ports = value.ports.map((port: unknown) => (isMap(port) ? port : {}))
    ports.forEach((port, index) => {
      for (const message of portModeProblems(port)) problems.push(`${path}.ports[${index}]: ${message}`)
    })
    const normalised = ports.map((port) =>
      port.mode === 'host' ? { ...port, host: port.host ?? port.published, published: undefined } : port,
    )
    for (const problem of portClashes(normalised))
      problems.push(`${path}.ports[${problem.index}]: ${problem.message}`)
  }
  return problems
}

/** What `mode` and `published` say together, and what the mesh can serve. */
function portModeProblems(port: Record<string, unknown>): string[] {
  const problems: string[] = []
  if (port.mode !== undefined && port.published === undefined)
    problems.push('mode applies to a published port: add published (the port to serve)')
  if (port.mode === 'host' && typeof port.host === 'number' && typeof port.published === 'number') {
    if (port.host !== port.published)
      problems.push(
        `host ${port.host} and published ${port.published} differ: in mode host the published port is the host port (give one)`,
      )
  }
  if (port.mode !== 'host' && port.published !== undefined && port.protocol === 'udp')
    problems.push('the routing mesh serves TCP only: publish a UDP port with mode: host')
  return problems
}

/**
 * Two ports that publish the same container port, or bind the same host port, cannot both work;
 * nor can a host port that is also a published port, which the mesh listens on on every node,
 * the slot's node included.
 */
function portClashes(
  ports: readonly { container?: unknown; host?: unknown; published?: unknown; protocol?: unknown }[],
): { index: number; message: string }[] {
  const clashes: { index: number; message: string }[] = []
  const seen = new Map<string, number>()
  ports.forEach((port, index) => {
    const protocol = String(port.protocol ?? 'tcp')
    for (const [side, number] of [
      ['container', port.container],
      ['host', port.host],
      ['published', port.published],
    ] as const) {
      if (typeof number !== 'number') continue
      const key = `${side} ${number}/${protocol}`
      const first = seen.get(key)
      if (first === undefined) seen.set(key, index)
      else clashes.push({ index, message: `${key} appears twice (also in ports[${first}])` })
      if (side === 'container') continue
      // A host port and a published port are both ports of the node.
      const other = seen.get(`${side === 'host' ? 'published' : 'host'} ${number}/${protocol}`)
      if (other !== undefined)
        clashes.push({
          index,
          message: `${side} ${number}/${protocol} is also a ${side === 'host' ? 'published' : 'host'} port (ports[${other}]): the mesh serves published ports on every node`,
        })
    }
  })
  return clashes
}

/**
 * Ports of a node that two workloads would both take: a published port (the mesh serves it on
 * every node) that another workload publishes too, or binds as a host port. One problem per
 * workload of `incoming`, at its field path under `pathOf(index)`; `existing` are the workloads
 * already declared (those named in `incoming` are replaced, so not counted).
 */
export function portConflicts(
  incoming: readonly Workload[],
  existing: readonly Workload[] = [],
  pathOf: (index: number) => string = () => 'spec',
): string[] {
  const replaced = new Set(incoming.map((workload) => workload.name))
  const all = [...incoming, ...existing.filter((workload) => !replaced.has(workload.name))]
  const owners = new Map<string, { name: string; kind: 'published' | 'host' }[]>()
  for (const workload of all) {
    for (const port of workload.ports) {
      for (const [kind, number] of [
        ['published', port.publishedPort],
        ['host', port.hostPort],
      ] as const) {
        if (number === undefined) continue
        const key = `${number}/${port.protocol}`
        const list = owners.get(key) ?? []
        list.push({ name: workload.name, kind })
        owners.set(key, list)
      }
    }
  }
  const problems: string[] = []
  incoming.forEach((workload, index) => {
    workload.ports.forEach((port, at) => {
      for (const [kind, number] of [
        ['published', port.publishedPort],
        ['host', port.hostPort],
      ] as const) {
        if (number === undefined) continue
        const key = `${number}/${port.protocol}`
        // Two host ports of different workloads share a node only if their slots do: the engine
        // refuses the second start there, and the slot moves. A published port is on every node.
        const other = (owners.get(key) ?? []).find(
          (owner) => owner.name !== workload.name && (kind === 'published' || owner.kind === 'published'),
        )
        if (other === undefined) continue
        problems.push(
          `${pathOf(index)}.ports[${at}]: ${kind} ${key} is ${other.kind === 'published' ? 'published' : 'a host port'} by workload ${other.name} too: published ports are served on every node`,
        )
      }
    })
  })
  return problems
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** A duration that may be zero (`0`, `"0s"`): an update's monitor. */
function parseDurationOrZero(value: unknown): number | string {
  if (value === 0 || (typeof value === 'string' && /^0+(\.0+)?(ms|s|m|h)?$/.test(value.trim()))) return 0
  return parseDuration(value)
}

function parseDuration(value: unknown): number | string {
  const text = typeof value === 'string' ? value.trim() : ''
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) {
    return `${quote(value)} is not a duration (use a string like "5s", "500ms", "1m" or "1m30s")`
  }
  let ms = 0
  for (const [, number, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    ms += Number(number) * (DURATION_UNITS[unit ?? ''] ?? Number.NaN)
  }
  ms = Math.round(ms)
  if (!(ms >= 1)) return `${quote(value)} is shorter than 1ms`
  if (ms > MAX_DURATION_MS) return `${quote(value)} is longer than 24h`
  return ms
}

/** Plain-language messages for zod's generic issues; schema-specific messages take precedence. */
const friendlyMessage: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required'
      const expected = EXPECTED[issue.expected] ?? issue.expected
      const hint =
        issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean')
          ? `: write it in quotes, "${String(issue.input)}"`
          : ''
      return `expected ${expected}, got ${describe(issue.input)}${hint}`
    }
    case 'too_small': {
      const minimum = Number(issue.minimum)
      if (issue.origin === 'string')
        return minimum === 1 ? 'must not be empty' : `must have at least ${minimum} characters`
      if (issue.origin === 'array')
        return minimum === 1 ? 'must not be empty' : `must have at least ${minimum} items`
      return `must be at least ${minimum}`
    }
    case 'too_big': {
      const maximum = Number(issue.maximum)
      if (issue.origin === 'string') return `must be at most ${maximum} characters long`
      if (issue.origin === 'array') return `must have at most ${maximum} items`
      return `must be at most ${maximum}`
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}, not ${describe(issue.input)}`
    case 'invalid_key':
      return issue.issues.map((inner) => inner.message).join('; ')
    default:
      return undefined
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map',
  record: 'a map',
}

function describeIssue(issue: z.core.$ZodIssue, root: string): string[] {
  const at = (path: readonly PropertyKey[]) => root + path.map(pathSegment).join('')
  if (issue.code === 'unrecognized_keys') {
    const known = fieldsAt(InputSchema, issue.path)
    return issue.keys.map((key) => {
      const guess = didYouMean(key, known, FIELD_SYNONYMS)
      return `${at([...issue.path, key])}: unknown field${guess === undefined ? '' : ` (did you mean ${guess}?)`}`
    })
  }
  return [`${at(issue.path)}: ${issue.message}`]
}

/** What people coming from Compose or Kubernetes write for a field. */
const FIELD_SYNONYMS: Record<string, string> = {
  environment: 'env',
  entrypoint: 'command',
  healthcheck: 'health',
  livenessprobe: 'health',
  readinessprobe: 'health',
  deploy: 'replicas',
  cmd: 'args',
  restart_policy: 'restart',
  restartpolicy: 'restart',
  nodeselector: 'constraints',
  placement: 'constraints',
  limits: 'resources',
  update_config: 'update',
  target: 'container',
  containerport: 'container',
  published: 'host',
  hostport: 'host',
  mounts: 'volumes',
  volumemounts: 'volumes',
  mountpath: 'target',
  read_only: 'readOnly',
  hostpath: 'source',
}

/** The field names of the map at `path` in a schema (through optionals and lists). */
function fieldsAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: unknown = schema
  for (const part of [...path, undefined]) {
    for (;;) {
      if (current instanceof z.ZodOptional) current = current.unwrap()
      else if (current instanceof z.ZodArray) current = current.element
      else break
    }
    if (part === undefined || typeof part === 'number') continue
    if (!(current instanceof z.ZodObject)) return []
    current = (current.shape as Record<string, unknown>)[String(part)]
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : []
}

function pathSegment(part: PropertyKey): string {
  if (typeof part === 'number') return `[${part}]`
  const key = String(part)
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function quoteName(name: string): string {
  return NAME.test(name) ? name : quote(name)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return value instanceof Uint8Array ? 'binary data' : 'a map'
  return quote(value)
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:$/, '')
}
