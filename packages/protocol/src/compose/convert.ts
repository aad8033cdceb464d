import { formatCpu } from '../quantity.js'
import { parseEnvFile } from './env-file.js'
import { interpolate } from './interpolate.js'
import { composeBytes, composeCpuMillis, composeDurationMs, garyDuration, garyMemory } from './quantities.js'
import { shellWords } from './shell-words.js'
import { convertVolumes, topLevelVolumeNotes, type VolumeInput } from './volumes.js'

/** A Gary workload spec in the form a user writes it (see `parseWorkloadFile`). */
export interface SpecInput {
  name: string
  image: string
  command?: string[]
  args?: string[]
  env?: Record<string, string>
  mode?: 'replicated' | 'global'
  replicas?: number
  resources?: { cpu?: string; memory?: string | number }
  ports?: { container: number; host?: number; protocol?: 'tcp' | 'udp' }[]
  constraints?: Record<string, string>
  restart?: { policy?: 'always' | 'on-failure' | 'never'; maxRetries?: number }
  health?: { command: string[]; interval?: string; timeout?: string; retries?: number }
  update?: {
    maxUnavailable?: number
    monitor?: string
    failureAction?: 'rollback' | 'pause'
    order?: 'stop-first' | 'start-first'
  }
  labels?: Record<string, string>
  secrets?: (string | { name: string; target?: string; mode?: string })[]
  volumes?: VolumeInput[]
}

/** Something of a Compose file that Gary did not carry over, and why; or a warning. */
export interface ComposeNote {
  /** The service it is about; absent for the file's top level. */
  service?: string
  /** `ignored`: the key (a dotted path in the service) has no effect. `warning`: read the reason. */
  kind: 'ignored' | 'warning'
  key: string
  reason: string
}

export interface ComposeOptions {
  /** Variables for `${VAR}` and for `environment` entries without a value. */
  environment: Readonly<Record<string, string | undefined>>
  /** Reads an `env_file` as written in the file; undefined when it does not exist. */
  readEnvFile?: (path: string) => string | undefined
}

export type ComposeResult =
  | { ok: true; specs: SpecInput[]; notes: ComposeNote[] }
  | { ok: false; problems: string[] }

/** A Compose file is a map with a `services` map. */
export function isComposeFile(value: unknown): boolean {
  return isMap(value) && isMap(value.services)
}

const TOP_LEVEL_REASONS: Record<string, string> = {
  networks: "containers use the engine's default network; services reach each other through published ports",
  configs: 'configs are not supported yet: containers get none',
  include: 'included files are not read: apply them with another -f',
}

/** Service keys Gary reads; every other key is reported ignored, with the reason below if any. */
const HANDLED = new Set([
  'image',
  'command',
  'entrypoint',
  'environment',
  'env_file',
  'ports',
  'deploy',
  'healthcheck',
  'labels',
  'restart',
  'cpus',
  'mem_limit',
  'scale',
  'secrets',
  'volumes',
])

const SERVICE_REASONS: Record<string, string> = {
  build: 'Gary runs images: build and push it, then name it in image',
  volumes_from: "another service's volumes are not shared: give each service its own",
  configs: 'configs are not supported yet: containers get none',
  networks: "containers use the engine's default network; services reach each other through published ports",
  network_mode: "containers use the engine's default network",
  depends_on:
    'every service starts at once and restarts when it exits: a service must wait for what it needs',
  links: 'there is no service discovery yet: reach other services through published ports',
  external_links: 'there is no service discovery yet: reach other services through published ports',
  expose: 'only ports are published',
  container_name: "Gary names each slot's container itself",
  hostname: "containers get the engine's default hostname",
  domainname: "containers get the engine's default hostname",
  user: "containers run as the image's user",
  working_dir: "containers start in the image's working directory",
  extends: 'extends is not read: write the service out in full',
  profiles: 'every service of the file is applied',
  pull_policy: 'a node pulls an image it does not have',
  logging: "logs stay with the engine's default driver (read them with gary logs)",
  stop_grace_period: "a container is given the engine's default time to stop",
  stop_signal: 'containers are stopped with SIGTERM',
  init: 'every container runs with an init process',
  privileged: 'containers are never privileged',
  cap_add: "containers keep the engine's default capabilities",
  cap_drop: "containers keep the engine's default capabilities",
  tty: 'containers run without a terminal',
  stdin_open: 'containers run without standard input',
  platform: 'a node runs the image for its own platform',
  mem_reservation: 'Gary places and limits by one amount: deploy.resources.limits.memory or mem_limit',
}

const DEPLOY_REASONS: Record<string, string> = {
  'deploy.resources.reservations': 'Gary places and limits by one amount: deploy.resources.limits',
  'deploy.resources.limits.pids': 'only cpus and memory are limited',
  'deploy.placement.preferences': 'Gary spreads replicas over the eligible nodes itself',
  'deploy.placement.max_replicas_per_node': 'Gary spreads replicas over the eligible nodes itself',
  'deploy.update_config.delay': 'an update moves on as soon as the new slot runs',
  'deploy.update_config.failure_action': 'only rollback and pause are supported (continue is not)',
  'deploy.update_config.max_failure_ratio': 'the first failed slot fails an update',
  'deploy.rollback_config': 'a rollback goes as the failed update went (its update settings)',
  'deploy.restart_policy.delay': 'restarts back off from 250 ms to 10 s',
  'deploy.restart_policy.window': 'restarts back off from 250 ms to 10 s',
  'deploy.endpoint_mode': 'there is no virtual IP: a port is published on the node running the slot',
  'healthcheck.start_period': "checks count from the container's start",
  'healthcheck.start_interval': 'checks run every interval from the start',
}

const NOT_SUPPORTED = 'not supported by Gary'
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/

/**
 * Converts a Compose file (already parsed from YAML) into Gary workload specs, as `docker stack
 * deploy` reads one: every service becomes a workload of the same name; what Gary cannot carry
 * over is listed, per service, with the reason. Problems (a service without an image, a
 * value that cannot be read) refuse the whole file. Pure: environment and env files come in
 * through `options`.
 */
export function convertCompose(file: unknown, options: ComposeOptions): ComposeResult {
  if (!isComposeFile(file)) return { ok: false, problems: ['not a Compose file: it has no services map'] }
  const interpolated = interpolate(file, options.environment)
  const problems = [...interpolated.errors]
  const notes: ComposeNote[] = interpolated.unset.map((name) => ({
    kind: 'warning',
    key: name,
    reason: `variable ${name} is not set: an empty string is used`,
  }))
  const root = interpolated.value as Record<string, unknown>
  for (const key of Object.keys(root)) {
    if (
      key === 'services' ||
      key === 'version' ||
      key === 'name' ||
      key === 'secrets' ||
      key.startsWith('x-')
    )
      continue
    if (key === 'volumes') {
      notes.push(...topLevelVolumeNotes(root.volumes))
      continue
    }
    notes.push({ kind: 'ignored', key, reason: TOP_LEVEL_REASONS[key] ?? NOT_SUPPORTED })
  }
  const secrets = topLevelSecrets(root.secrets, problems, notes)
  const specs: SpecInput[] = []
  for (const [service, body] of Object.entries(root.services as Record<string, unknown>)) {
    const converted = convertService(service, body, options, secrets)
    problems.push(...converted.problems.map((problem) => `services.${service}${problem}`))
    notes.push(...converted.notes.map((note) => ({ ...note, service })))
    if (converted.spec !== undefined) specs.push(converted.spec)
  }
  if (specs.length === 0 && problems.length === 0) problems.push('services: the file declares no service')
  return problems.length > 0 ? { ok: false, problems } : { ok: true, specs, notes }
}

interface ServiceResult {
  spec?: SpecInput
  /** Each starts with the path under the service (`.ports[0]: ...`). */
  problems: string[]
  notes: Omit<ComposeNote, 'service'>[]
}

function convertService(
  service: string,
  body: unknown,
  options: ComposeOptions,
  secrets: ReadonlyMap<string, string>,
): ServiceResult {
  const problems: string[] = []
  const notes: Omit<ComposeNote, 'service'>[] = []
  const ignore = (key: string, reason?: string) =>
    notes.push({ kind: 'ignored', key, reason: reason ?? DEPLOY_REASONS[key] ?? NOT_SUPPORTED })
  if (!isMap(body)) return { problems: [': must be a map'], notes }

  for (const key of Object.keys(body)) {
    if (!HANDLED.has(key) && !key.startsWith('x-')) ignore(key, SERVICE_REASONS[key])
  }
  const name = service.toLowerCase().replace(/[_.]/g, '-')
  if (name !== service)
    notes.push({ kind: 'warning', key: 'name', reason: `named ${name}: Gary names are lowercase DNS labels` })

  const image = body.image
  if (typeof image !== 'string' || image === '') {
    problems.push(
      body.build === undefined
        ? '.image: is required'
        : '.image: is required (build is not supported: build and push the image, then name it here)',
    )
  }
  const spec: SpecInput = { name, image: typeof image === 'string' ? image : '' }

  const entrypoint = words(body.entrypoint, '.entrypoint', problems)
  if (entrypoint !== undefined) spec.command = entrypoint
  const command = words(body.command, '.command', problems)
  if (command !== undefined) spec.args = command

  const env = environment(body, options, problems)
  if (Object.keys(env).length > 0) spec.env = env

  const ports = convertPorts(body.ports, problems, notes)
  if (ports.length > 0) spec.ports = ports

  const volumes = convertVolumes(body.volumes, problems, notes)
  if (volumes.length > 0) spec.volumes = volumes

  const deploy = isMap(body.deploy) ? body.deploy : {}
  if (body.deploy !== undefined && !isMap(body.deploy)) problems.push('.deploy: must be a map')
  convertDeploy(deploy, body, spec, problems, ignore)

  const health = convertHealth(body.healthcheck, problems, ignore)
  if (health !== undefined) spec.health = health

  const labels: Record<string, string> = {}
  for (const [at, value] of [
    ['labels', body.labels],
    ['deploy.labels', deploy.labels],
  ] as const) {
    for (const [key, text] of Object.entries(labelMap(value, `.${at}`, problems))) {
      if (LABEL_KEY.test(key) && text.length <= 63) labels[key] = text
      else
        ignore(
          `${at}.${key}`,
          'a Gary label has a key of letters, digits and ._/- and a value of at most 63 characters',
        )
    }
  }
  if (Object.keys(labels).length > 0) spec.labels = labels

  const read = serviceSecrets(body.secrets, secrets, problems, ignore)
  if (read.length > 0) spec.secrets = read

  return { spec: problems.length > 0 ? undefined : spec, problems, notes }
}

function convertDeploy(
  deploy: Record<string, unknown>,
  body: Record<string, unknown>,
  spec: SpecInput,
  problems: string[],
  ignore: (key: string, reason?: string) => void,
): void {
  const known = new Set([
    'mode',
    'replicas',
    'resources',
    'placement',
    'update_config',
    'restart_policy',
    'labels',
  ])
  for (const key of Object.keys(deploy)) if (!known.has(key)) ignore(`deploy.${key}`)

  const mode = deploy.mode ?? 'replicated'
  if (mode === 'global') spec.mode = 'global'
  else if (mode !== 'replicated')
    problems.push(
      `.deploy.mode: ${JSON.stringify(mode)} is not supported (replicated or global; jobs are not)`,
    )

  const replicas = deploy.replicas ?? body.scale
  if (replicas !== undefined) {
    const where = deploy.replicas === undefined ? '.scale' : '.deploy.replicas'
    if (!Number.isInteger(replicas) || (replicas as number) < 0)
      problems.push(`${where}: must be a whole number`)
    else if (spec.mode === 'global')
      ignore(where.slice(1), 'a global service runs one replica on each eligible node')
    else spec.replicas = replicas as number
  }

  const resources = isMap(deploy.resources) ? deploy.resources : {}
  for (const key of Object.keys(resources)) if (key !== 'limits') ignore(`deploy.resources.${key}`)
  const limits = isMap(resources.limits) ? resources.limits : {}
  for (const key of Object.keys(limits))
    if (key !== 'cpus' && key !== 'memory') ignore(`deploy.resources.limits.${key}`)
  const cpus = limits.cpus ?? body.cpus
  const memory = limits.memory ?? body.mem_limit
  const converted: NonNullable<SpecInput['resources']> = {}
  if (cpus !== undefined) {
    const millis = composeCpuMillis(cpus)
    if (millis === undefined)
      problems.push(
        `${limits.cpus === undefined ? '.cpus' : '.deploy.resources.limits.cpus'}: ${JSON.stringify(cpus)} is not a CPU count`,
      )
    else converted.cpu = formatCpu(millis)
  }
  if (memory !== undefined) {
    const bytes = composeBytes(memory)
    if (bytes === undefined)
      problems.push(
        `${limits.memory === undefined ? '.mem_limit' : '.deploy.resources.limits.memory'}: ${JSON.stringify(memory)} is not a size`,
      )
    else converted.memory = garyMemory(bytes)
  }
  if (Object.keys(converted).length > 0) spec.resources = converted

  const placement = isMap(deploy.placement) ? deploy.placement : {}
  for (const key of Object.keys(placement)) if (key !== 'constraints') ignore(`deploy.placement.${key}`)
  const constraints: Record<string, string> = {}
  const list = placement.constraints === undefined ? [] : placement.constraints
  if (!Array.isArray(list)) problems.push('.deploy.placement.constraints: must be a list')
  else
    list.forEach((constraint, index) => {
      const match =
        typeof constraint === 'string'
          ? /^\s*node\.labels\.([^\s=!]+)\s*==\s*(.*?)\s*$/.exec(constraint)
          : null
      if (match === null)
        ignore(
          `deploy.placement.constraints[${index}]`,
          `${JSON.stringify(constraint)}: only node.labels.KEY == VALUE is supported`,
        )
      else constraints[match[1]!] = match[2]!
    })
  if (Object.keys(constraints).length > 0) spec.constraints = constraints

  const update = isMap(deploy.update_config) ? deploy.update_config : {}
  const updateKeys = new Set(['parallelism', 'monitor', 'failure_action', 'order'])
  for (const key of Object.keys(update)) if (!updateKeys.has(key)) ignore(`deploy.update_config.${key}`)
  const policyOut: NonNullable<SpecInput['update']> = {}
  if (update.parallelism !== undefined) {
    const parallelism = update.parallelism
    if (!Number.isInteger(parallelism) || (parallelism as number) < 0)
      problems.push('.deploy.update_config.parallelism: must be a whole number')
    // 0 means every replica at once.
    else
      policyOut.maxUnavailable =
        (parallelism as number) === 0 ? Math.max(1, spec.replicas ?? 1) : (parallelism as number)
  }
  if (update.monitor !== undefined) {
    const ms = composeDurationMs(update.monitor)
    if (ms === undefined)
      problems.push(`.deploy.update_config.monitor: ${JSON.stringify(update.monitor)} is not a duration`)
    else policyOut.monitor = garyDuration(ms)
  }
  if (update.failure_action !== undefined) {
    if (update.failure_action === 'rollback' || update.failure_action === 'pause')
      policyOut.failureAction = update.failure_action
    else ignore('deploy.update_config.failure_action')
  }
  if (update.order !== undefined) {
    if (update.order === 'start-first' || update.order === 'stop-first') policyOut.order = update.order
    else problems.push('.deploy.update_config.order: must be start-first or stop-first')
  }
  if (Object.keys(policyOut).length > 0) spec.update = policyOut

  const policy = isMap(deploy.restart_policy) ? deploy.restart_policy : undefined
  if (policy !== undefined) {
    if (body.restart !== undefined) ignore('restart', 'deploy.restart_policy is used')
    for (const key of Object.keys(policy))
      if (key !== 'condition' && key !== 'max_attempts') ignore(`deploy.restart_policy.${key}`)
    const condition = policy.condition ?? 'any'
    const mapped = { none: 'never', 'on-failure': 'on-failure', any: 'always' }[String(condition)] as
      | 'never'
      | 'on-failure'
      | 'always'
      | undefined
    if (mapped === undefined)
      problems.push(
        `.deploy.restart_policy.condition: ${JSON.stringify(condition)} is not none, on-failure or any`,
      )
    const restart: NonNullable<SpecInput['restart']> = { policy: mapped ?? 'always' }
    if (policy.max_attempts !== undefined) {
      if (!Number.isInteger(policy.max_attempts) || (policy.max_attempts as number) < 0)
        problems.push('.deploy.restart_policy.max_attempts: must be a whole number')
      else restart.maxRetries = policy.max_attempts as number
    }
    spec.restart = restart
  } else if (body.restart !== undefined) {
    const match = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(String(body.restart))
    if (match === null)
      problems.push(
        `.restart: ${JSON.stringify(body.restart)} is not no, always, unless-stopped or on-failure[:N]`,
      )
    else {
      const restartPolicy = match[1] === 'no' ? 'never' : match[1] === 'on-failure' ? 'on-failure' : 'always'
      spec.restart = {
        policy: restartPolicy,
        ...(match[2] === undefined ? {} : { maxRetries: Number(match[2]) }),
      }
    }
  }
}

function convertHealth(
  value: unknown,
  problems: string[],
  ignore: (key: string, reason?: string) => void,
): SpecInput['health'] {
  if (value === undefined) return undefined
  if (!isMap(value)) {
    problems.push('.healthcheck: must be a map')
    return undefined
  }
  for (const key of Object.keys(value))
    if (!['test', 'interval', 'timeout', 'retries', 'disable'].includes(key)) ignore(`healthcheck.${key}`)
  if (value.disable === true) return undefined
  const test = value.test
  let command: string[] | undefined
  if (typeof test === 'string') command = ['/bin/sh', '-c', test]
  else if (Array.isArray(test) && test.every((item) => typeof item === 'string')) {
    const [kind, ...rest] = test as string[]
    if (kind === 'NONE') return undefined
    if (kind === 'CMD' && rest.length > 0) command = rest
    else if (kind === 'CMD-SHELL' && rest.length === 1) command = ['/bin/sh', '-c', rest[0]!]
  }
  if (command === undefined) {
    problems.push('.healthcheck.test: must be a string, ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]')
    return undefined
  }
  const health: NonNullable<SpecInput['health']> = { command }
  for (const key of ['interval', 'timeout'] as const) {
    if (value[key] === undefined) continue
    const ms = composeDurationMs(value[key])
    if (ms === undefined || ms < 1)
      problems.push(`.healthcheck.${key}: ${JSON.stringify(value[key])} is not a duration`)
    else health[key] = garyDuration(ms)
  }
  if (value.retries !== undefined) {
    if (!Number.isInteger(value.retries) || (value.retries as number) < 1)
      problems.push('.healthcheck.retries: must be a whole number of at least 1')
    else health.retries = value.retries as number
  }
  return health
}

/** A command or entrypoint: a list, or one string split as a shell would. */
function words(value: unknown, at: string, problems: string[]): string[] | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') {
    const split = shellWords(value)
    if (split === undefined) problems.push(`${at}: has an unclosed quote`)
    return split
  }
  if (Array.isArray(value) && value.every((item) => ['string', 'number', 'boolean'].includes(typeof item)))
    return value.map(String)
  problems.push(`${at}: must be a string or a list of strings`)
  return undefined
}

function environment(
  body: Record<string, unknown>,
  options: ComposeOptions,
  problems: string[],
): Record<string, string> {
  const env: Record<string, string> = {}
  const files =
    body.env_file === undefined ? [] : Array.isArray(body.env_file) ? body.env_file : [body.env_file]
  files.forEach((entry, index) => {
    const path = typeof entry === 'string' ? entry : isMap(entry) ? entry.path : undefined
    const required = isMap(entry) ? entry.required !== false : true
    const at = `.env_file${Array.isArray(body.env_file) ? `[${index}]` : ''}`
    if (typeof path !== 'string') {
      problems.push(`${at}: must be a path`)
      return
    }
    const text = options.readEnvFile?.(path)
    if (text === undefined) {
      if (required) problems.push(`${at}: ${path} cannot be read`)
      return
    }
    const parsed = parseEnvFile(text)
    problems.push(...parsed.problems.map((problem) => `${at}: ${path} ${problem}`))
    Object.assign(env, interpolate(parsed.env, options.environment).value)
  })
  const given = body.environment
  if (Array.isArray(given)) {
    given.forEach((item, index) => {
      if (typeof item !== 'string') {
        problems.push(`.environment[${index}]: must be KEY=VALUE`)
        return
      }
      const at = item.indexOf('=')
      if (at < 0) {
        const value = options.environment[item]
        if (value !== undefined) env[item] = value
      } else env[item.slice(0, at)] = item.slice(at + 1)
    })
  } else if (isMap(given)) {
    for (const [key, value] of Object.entries(given)) {
      if (value === null || value === undefined) {
        const inherited = options.environment[key]
        if (inherited !== undefined) env[key] = inherited
      } else if (['string', 'number', 'boolean'].includes(typeof value)) env[key] = String(value)
      else problems.push(`.environment.${key}: must be a string, a number or true/false`)
    }
  } else if (given !== undefined) problems.push('.environment: must be a map or a list of KEY=VALUE')
  return env
}

type Port = NonNullable<SpecInput['ports']>[number]

function convertPorts(value: unknown, problems: string[], notes: Omit<ComposeNote, 'service'>[]): Port[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    problems.push('.ports: must be a list')
    return []
  }
  const ports: Port[] = []
  value.forEach((entry, index) => {
    const at = `.ports[${index}]`
    if (isMap(entry)) {
      for (const key of Object.keys(entry))
        if (!['target', 'published', 'protocol', 'mode'].includes(key))
          notes.push({
            kind: 'ignored',
            key: `ports[${index}].${key}`,
            reason: key === 'host_ip' ? 'ports are published on every address of the node' : NOT_SUPPORTED,
          })
      const protocol = entry.protocol ?? 'tcp'
      if (protocol !== 'tcp' && protocol !== 'udp') {
        problems.push(`${at}.protocol: must be tcp or udp`)
        return
      }
      const containers = range(entry.target)
      const hosts =
        entry.published === undefined || entry.published === '' ? undefined : range(entry.published)
      if (
        containers === undefined ||
        containers.length !== 1 ||
        (hosts !== undefined && hosts.length !== 1)
      ) {
        problems.push(`${at}: target and published must be port numbers`)
        return
      }
      ports.push({ container: containers[0]!, ...(hosts === undefined ? {} : { host: hosts[0]! }), protocol })
      return
    }
    if (typeof entry !== 'string' && typeof entry !== 'number') {
      problems.push(`${at}: must be "HOST:CONTAINER[/PROTOCOL]" or a map`)
      return
    }
    const match = /^(?:(?:(\[[^\]]*\]|[^:[\]]+):)?([\d-]*):)?([\d-]+)(?:\/(tcp|udp))?$/.exec(
      String(entry).trim(),
    )
    const containers = match === null ? undefined : range(match[3])
    const hosts = match?.[2] === undefined || match[2] === '' ? undefined : range(match[2])
    if (
      match === null ||
      containers === undefined ||
      (hosts !== undefined && hosts.length !== containers.length)
    ) {
      problems.push(`${at}: ${JSON.stringify(entry)} is not [HOST_IP:][HOST:]CONTAINER[/PROTOCOL]`)
      return
    }
    if (match[1] !== undefined)
      notes.push({
        kind: 'ignored',
        key: `ports[${index}]`,
        reason: `host address ${match[1]}: ports are published on every address of the node`,
      })
    containers.forEach((container, i) => {
      ports.push({
        container,
        ...(hosts === undefined ? {} : { host: hosts[i]! }),
        protocol: (match[4] as 'tcp' | 'udp' | undefined) ?? 'tcp',
      })
    })
  })
  return ports
}

/** `8080`, `"8080"` or `"8000-8010"` as port numbers; undefined if not one of those. */
function range(value: unknown): number[] | undefined {
  const text = String(value ?? '').trim()
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text)
  if (match === null) return undefined
  const first = Number(match[1])
  const last = match[2] === undefined ? first : Number(match[2])
  if (first < 1 || last > 65535 || last < first || last - first >= 64) return undefined
  return Array.from({ length: last - first + 1 }, (_, i) => first + i)
}

function labelMap(value: unknown, at: string, problems: string[]): Record<string, string> {
  if (value === undefined) return {}
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v ?? '')]))
  if (Array.isArray(value)) {
    const labels: Record<string, string> = {}
    for (const item of value) {
      const text = String(item)
      const eq = text.indexOf('=')
      if (eq < 0) labels[text] = ''
      else labels[text.slice(0, eq)] = text.slice(eq + 1)
    }
    return labels
  }
  problems.push(`${at}: must be a map or a list of KEY=VALUE`)
  return {}
}

/**
 * The top-level `secrets` map: each key is the name services use, mapped to the Gary secret's
 * name (its `name`, or the key). Gary never reads a secret's `file` or `environment`: the value
 * would travel in the spec, in clear. A warning says to create it once with `gary secret create`.
 */
function topLevelSecrets(value: unknown, problems: string[], notes: ComposeNote[]): Map<string, string> {
  const secrets = new Map<string, string>()
  if (value === undefined) return secrets
  if (!isMap(value)) {
    problems.push('secrets: must be a map')
    return secrets
  }
  for (const [key, body] of Object.entries(value)) {
    const definition = isMap(body) ? body : {}
    const name = typeof definition.name === 'string' ? definition.name : key
    if (!SECRET_NAME.test(name)) {
      problems.push(
        `secrets.${key}: ${JSON.stringify(name)} is not a Gary secret name (letters, digits, '.', '_' and '-')`,
      )
      continue
    }
    secrets.set(key, name)
    const create =
      typeof definition.file === 'string'
        ? `gary secret create ${name} -f ${definition.file}`
        : typeof definition.environment === 'string'
          ? `printf %s "$${definition.environment}" | gary secret create ${name} -f -`
          : undefined
    if (create !== undefined)
      notes.push({
        kind: 'warning',
        key: `secrets.${key}`,
        reason: `Gary does not read a secret's value from the Compose file (it would travel in the spec, in clear): create it once with ${create}; its services wait for it`,
      })
    for (const other of Object.keys(definition))
      if (!['name', 'file', 'environment', 'external'].includes(other))
        notes.push({ kind: 'ignored', key: `secrets.${key}.${other}`, reason: NOT_SUPPORTED })
  }
  return secrets
}

/** A service's `secrets`: short names or `{source, target, mode}`, read from `/run/secrets/`. */
function serviceSecrets(
  value: unknown,
  secrets: ReadonlyMap<string, string>,
  problems: string[],
  ignore: (key: string, reason?: string) => void,
): NonNullable<SpecInput['secrets']> {
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    problems.push('.secrets: must be a list')
    return []
  }
  return value.flatMap((item: unknown, index) => {
    const where = `.secrets[${index}]`
    const entry = typeof item === 'string' ? { source: item } : isMap(item) ? item : undefined
    if (entry === undefined || typeof entry.source !== 'string') {
      problems.push(`${where}: must be a secret's name or a map with a source`)
      return []
    }
    const name = secrets.get(entry.source)
    if (name === undefined) {
      problems.push(`${where}: secret ${entry.source} is not declared in the file's top-level secrets`)
      return []
    }
    for (const key of Object.keys(entry))
      if (!['source', 'target', 'mode'].includes(key))
        ignore(
          `secrets[${index}].${key}`,
          key === 'uid' || key === 'gid' ? 'secret files belong to root' : undefined,
        )
    const out: { name: string; target?: string; mode?: string } = { name }
    if (typeof entry.target === 'string') {
      const target = entry.target.startsWith('/run/secrets/')
        ? entry.target.slice('/run/secrets/'.length)
        : entry.target
      if (target.includes('/')) {
        problems.push(`${where}.target: Gary puts secrets in /run/secrets only, as files of their own`)
        return []
      }
      out.target = target
    } else if (name !== entry.source) out.target = entry.source
    if (entry.mode !== undefined) {
      const mode = composeMode(entry.mode)
      if (mode === undefined) {
        problems.push(`${where}.mode: ${JSON.stringify(entry.mode)} is not a file mode such as 0440`)
        return []
      }
      out.mode = mode
    }
    return [Object.keys(out).length === 1 ? name : out]
  })
}

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/**
 * A Compose file mode as octal digits. Compose reads `0440` as octal; a YAML 1.2 reader gives the
 * number 440: digits that are all octal are taken as octal, as the author wrote them.
 */
function composeMode(value: unknown): string | undefined {
  const digits = typeof value === 'number' && Number.isInteger(value) ? String(value) : value
  if (typeof digits === 'string' && /^0?[0-7]{1,3}$/.test(digits))
    return `0${digits.replace(/^0/, '').padStart(3, '0')}`
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o777)
    return `0${value.toString(8).padStart(3, '0')}`
  return undefined
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
