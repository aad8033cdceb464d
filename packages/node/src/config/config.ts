import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_PLACEMENT_CONFIG, formatIssues, MAX_SHARDS } from '@gary/protocol'
import { multiaddr } from '@multiformats/multiaddr'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { ConfigError } from '../errors.js'
import type { LogLevel } from '../logger.js'
import { parseCpuMillis, parseMemoryBytes } from './units.js'

/** Everything `gary daemon` can be told. Each field documents its default. */
export interface DaemonConfig {
  /** Peer key, incarnation, known peers. Default `~/.gary`. */
  dataDir: string
  /** Multiaddrs to listen on. Default `/ip4/0.0.0.0/tcp/7946`. */
  listen: string[]
  /** Multiaddrs of members to join through; redialled while under-connected. Default none. */
  join: string[]
  /** Labels this node promises about itself. Default none. */
  labels: Record<string, string>
  /** CPU to offer, millicores. Default: what the runtime reports. */
  cpuMillis?: number
  /** Memory to offer, bytes. Default: what the runtime reports. */
  memoryBytes?: number
  /** HTTP API `host:port`. Default `127.0.0.1:7947`. */
  api: string
  /** Bearer token the API demands; required when the API binds beyond loopback. */
  apiToken?: string
  /** Cluster name: nodes of different clusters ignore each other's gossip. Default `default`. */
  cluster: string
  /** Path of the cluster key; without one the cluster is open to anyone who can connect. */
  clusterKey?: string
  /** Container runtime driver. Default `docker`. */
  runtime: 'docker' | 'fake'
  logLevel: LogLevel
  /** How often a node tells its peers it is alive, ms. Default 1000. */
  heartbeatMs: number
  /** Heartbeat age after which a member is suspect, ms. Default 2000. */
  suspectAfterMs: number
  /** Heartbeat age after which a member is dead, ms. Default 3000. */
  deadAfterMs: number
  /** Members to keep direct connections to; heartbeats travel over them. Default 32. */
  targetPeers: number
  /** Multiaddr CIDRs exempt from connection rate limits, e.g. `/ip4/10.0.0.0/ipcidr/8`. Default none. */
  allow: string[]
  /** A claim waits this long for a better one before its container starts (rule 5), ms. Default 300. */
  settleMs: number
  /**
   * Ring shards the cluster is cut into: past one, each node's promise changes reach only the
   * nodes of its own and the neighbouring shards. Cluster-wide: every node must be started with
   * the same value. Default 1.
   */
  promiseShards: number
  /** Host or address at which this node's published container ports are reached. Default: the first listen address, or 127.0.0.1 when that is a wildcard. */
  advertiseHost?: string
}

export const DEFAULTS: DaemonConfig = {
  dataDir: join(homedir(), '.gary'),
  listen: ['/ip4/0.0.0.0/tcp/7946'],
  join: [],
  labels: {},
  api: '127.0.0.1:7947',
  cluster: 'default',
  runtime: 'docker',
  logLevel: 'info',
  heartbeatMs: 1000,
  suspectAfterMs: 2000,
  deadAfterMs: 3000,
  targetPeers: 32,
  allow: [],
  settleMs: DEFAULT_PLACEMENT_CONFIG.settleMs,
  promiseShards: DEFAULT_PLACEMENT_CONFIG.shards,
}

// One sentence for every way a count can be wrong: zod's own ("expected number, received NaN") helps nobody.
const shardsError = `must be a whole number from 1 to ${MAX_SHARDS}, the same on every node`
const shardCount = z.coerce
  .number(shardsError)
  .int(shardsError)
  .min(1, shardsError)
  .max(MAX_SHARDS, shardsError)
const positiveMs = z.coerce.number().int().min(10).max(3_600_000)
const stringList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (typeof v === 'string' ? splitList(v) : v))

/** What a config file, the environment or flags may say; all optional, merged over the defaults. */
const SettingsSchema = z.strictObject({
  dataDir: z.string().min(1),
  listen: stringList,
  join: stringList,
  labels: z.union([z.string(), z.array(z.string()), z.record(z.string(), z.coerce.string())]),
  cpu: z.union([z.string(), z.number()]),
  memory: z.union([z.string(), z.number()]),
  api: z.string().min(1),
  apiToken: z.string().min(16, 'must be at least 16 characters'),
  cluster: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label (a-z, 0-9, -)'),
  clusterKey: z.string().min(1),
  runtime: z.enum(['docker', 'fake']),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
  heartbeatMs: positiveMs,
  suspectAfterMs: positiveMs,
  deadAfterMs: positiveMs,
  targetPeers: z.coerce.number().int().min(1).max(1000),
  allow: stringList,
  settleMs: z.coerce.number().int().min(0).max(60_000),
  promiseShards: shardCount,
  advertise: z.string().min(1).max(253),
})

export type Settings = Partial<z.input<typeof SettingsSchema>>

const ENV: Record<keyof z.input<typeof SettingsSchema>, string> = {
  dataDir: 'GARY_DATA_DIR',
  listen: 'GARY_LISTEN',
  join: 'GARY_JOIN',
  labels: 'GARY_LABELS',
  cpu: 'GARY_CPU',
  memory: 'GARY_MEMORY',
  api: 'GARY_API',
  apiToken: 'GARY_API_TOKEN',
  cluster: 'GARY_CLUSTER',
  clusterKey: 'GARY_CLUSTER_KEY',
  runtime: 'GARY_RUNTIME',
  logLevel: 'GARY_LOG_LEVEL',
  heartbeatMs: 'GARY_HEARTBEAT_MS',
  suspectAfterMs: 'GARY_SUSPECT_AFTER_MS',
  deadAfterMs: 'GARY_DEAD_AFTER_MS',
  targetPeers: 'GARY_TARGET_PEERS',
  allow: 'GARY_ALLOW',
  settleMs: 'GARY_SETTLE_MS',
  promiseShards: 'GARY_PROMISE_SHARDS',
  advertise: 'GARY_ADVERTISE',
}

/** Settings from `GARY_*` environment variables (lists comma-separated). */
export function settingsFromEnv(env: NodeJS.ProcessEnv): Settings {
  const settings: Record<string, string> = {}
  for (const [key, name] of Object.entries(ENV)) {
    const value = env[name]
    if (value !== undefined && value !== '') settings[key] = value
  }
  return settings
}

/** Settings from a YAML or JSON config file. */
export async function settingsFromFile(path: string): Promise<Settings> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`)
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError(`config file ${path} must hold a map of settings`)
  return parsed as Settings
}

/**
 * Merges settings, later sources winning (file, then environment, then flags), over the defaults,
 * and checks the result. Every problem is listed, with where it came from.
 */
export function resolveConfig(layers: { source: string; settings: Settings }[]): DaemonConfig {
  const config: DaemonConfig = { ...DEFAULTS, labels: {} }
  const problems: string[] = []
  for (const { source, settings } of layers) {
    // A bad setting must not hide the others: report it, and still apply and check the rest.
    const { data, issues } = parseSettings(settings)
    if (issues !== undefined) problems.push(`${source}: ${issues}`)
    for (const problem of [...applySettings(config, data), ...checkAddrs(data)]) {
      problems.push(`${source}: ${problem}`)
    }
  }
  problems.push(...checkConfig(config))
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`)
  return config
}

type ParsedSettings = Partial<z.output<typeof SettingsSchema>>

/** The valid part of a layer, and what is wrong with the rest. */
function parseSettings(settings: Settings): { data: ParsedSettings; issues?: string } {
  const schema = SettingsSchema.partial()
  const result = schema.safeParse(settings)
  if (result.success) return { data: result.data }
  const bad = new Set<string>()
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) bad.add(key)
    else if (issue.path[0] !== undefined) bad.add(String(issue.path[0]))
  }
  const rest = Object.fromEntries(Object.entries(settings).filter(([key]) => !bad.has(key)))
  const again = schema.safeParse(rest)
  return { data: again.success ? again.data : {}, issues: formatIssues(result.error.issues) }
}

/** Applies one layer; returns the settings that could not be understood. */
function applySettings(config: DaemonConfig, s: ParsedSettings): string[] {
  const problems: string[] = []
  const attempt = (apply: () => void) => {
    try {
      apply()
    } catch (err) {
      problems.push((err as Error).message)
    }
  }
  if (s.dataDir !== undefined) config.dataDir = s.dataDir
  if (s.listen !== undefined) config.listen = s.listen
  if (s.join !== undefined) config.join = s.join
  const { labels, cpu, memory } = s
  if (labels !== undefined) attempt(() => (config.labels = { ...config.labels, ...parseLabels(labels) }))
  if (cpu !== undefined) attempt(() => (config.cpuMillis = parseCpuMillis(String(cpu))))
  if (memory !== undefined) attempt(() => (config.memoryBytes = parseMemoryBytes(String(memory))))
  if (s.api !== undefined) config.api = s.api
  if (s.apiToken !== undefined) config.apiToken = s.apiToken
  if (s.cluster !== undefined) config.cluster = s.cluster
  if (s.clusterKey !== undefined) config.clusterKey = s.clusterKey
  if (s.runtime !== undefined) config.runtime = s.runtime
  if (s.logLevel !== undefined) config.logLevel = s.logLevel
  if (s.heartbeatMs !== undefined) config.heartbeatMs = s.heartbeatMs
  if (s.suspectAfterMs !== undefined) config.suspectAfterMs = s.suspectAfterMs
  if (s.deadAfterMs !== undefined) config.deadAfterMs = s.deadAfterMs
  if (s.targetPeers !== undefined) config.targetPeers = s.targetPeers
  if (s.allow !== undefined) config.allow = s.allow
  if (s.settleMs !== undefined) config.settleMs = s.settleMs
  if (s.promiseShards !== undefined) config.promiseShards = s.promiseShards
  if (s.advertise !== undefined) config.advertiseHost = s.advertise
  return problems
}

/** Checks a layer's addresses, so a bad one is reported with the source that gave it. */
function checkAddrs(s: ParsedSettings): string[] {
  const problems: string[] = []
  for (const [what, addrs] of [
    ['listen', s.listen],
    ['join', s.join],
    ['allow', s.allow],
  ] as const) {
    for (const addr of addrs ?? []) {
      try {
        multiaddr(addr)
      } catch {
        problems.push(`${what}: "${addr}" is not a multiaddr (like /ip4/10.0.0.1/tcp/7946)`)
      }
    }
  }
  return problems
}

function checkConfig(config: DaemonConfig): string[] {
  const problems: string[] = []
  try {
    const { host } = parseHostPort(config.api)
    if (!isLoopback(host) && config.apiToken === undefined) {
      problems.push(
        `api: binding ${config.api} beyond loopback needs an API token (--api-token or GARY_API_TOKEN)`,
      )
    }
  } catch (err) {
    problems.push((err as Error).message)
  }
  if (!(config.heartbeatMs < config.suspectAfterMs && config.suspectAfterMs < config.deadAfterMs)) {
    problems.push(
      `timing: heartbeat (${config.heartbeatMs} ms) < suspect-after (${config.suspectAfterMs} ms) < dead-after (${config.deadAfterMs} ms) must hold`,
    )
  }
  return problems
}

/** Parses `k=v` labels, from a list, a comma-separated string, or a map. */
export function parseLabels(input: string | string[] | Record<string, string>): Record<string, string> {
  if (typeof input === 'object' && !Array.isArray(input)) return { ...input }
  const labels: Record<string, string> = {}
  for (const item of typeof input === 'string' ? splitList(input) : input) {
    const at = item.indexOf('=')
    if (at <= 0) throw new ConfigError(`label "${item}" is not key=value`)
    labels[item.slice(0, at)] = item.slice(at + 1)
  }
  return labels
}

export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text)
  const port = Number(match?.[2])
  if (match === null || port > 65535)
    throw new ConfigError(`api: "${text}" is not host:port (like 127.0.0.1:7947)`)
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}
