import { isIP } from 'node:net'
import { homedir, hostname } from 'node:os'
import { join } from 'node:path'
import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  DEFAULT_PLACEMENT_CONFIG,
  MAX_HOST_PATHS,
  MAX_SHARDS,
  NodeNameSchema,
  normaliseHostPathPrefixes,
} from '@gary/protocol'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { ConfigError } from '../errors.js'
import { nameFromHostname } from '../node-label.js'
import { MEMBERSHIP_DEFAULTS } from '../timing.js'
import { parseCpuMillis, parseMemoryBytes } from './units.js'

/**
 * One setting of `gary daemon`. Its key is its config-file key; its flag is the key in kebab-case
 * (`--data-dir`) and its environment variable `GARY_` and the key in snake case (`GARY_DATA_DIR`).
 */
export interface Setting<S extends z.ZodType, Out, Field extends string | undefined, Default> {
  /** The flag's value placeholder: `dir` gives `--data-dir <dir>` (`--data-dir DIR` in the README). */
  readonly arg: string
  /** The flag without its dashes, when it is not the key in kebab-case. */
  readonly flag?: string
  /** The flag may be given several times; its environment variable is then a comma-separated list. */
  readonly repeatable?: boolean
  /** What a file, the environment (strings) or a flag may say. */
  readonly schema: S
  /** Makes the config's value of a checked one; throws a ConfigError that names the setting. */
  readonly convert?: (value: z.output<S>) => Out
  /** How a later source's value combines with an earlier one. Default: it replaces it. */
  readonly merge?: (earlier: Out, later: Out) => Out
  /** The `DaemonConfig` field, when it is not the key. */
  readonly field?: Field
  readonly default?: Default
  /** The default as the README and `--help` say it (Markdown; `none` for no value). */
  readonly defaultText: string
  /** What the setting does, for `--help` and the README (Markdown). */
  readonly help: string
  /** Phantom: the config's value type. */
  readonly _value?: Out
}

function setting<
  S extends z.ZodType,
  Out = z.output<S>,
  Field extends string | undefined = undefined,
  Default = undefined,
>(
  def: Setting<S, Out, Field, Default> & { readonly default?: NoInfer<Out> },
): Setting<S, Out, Field, Default> {
  return def
}

/**
 * Gary's TCP port ("GARY" on a phone keypad): not Swarm's or memberlist's 7946, nor a port of
 * Nomad, Consul, Kubernetes, etcd or libp2p's usual 4001.
 */
export const DEFAULT_PORT = 4279

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

/** Every setting of `gary daemon`: adding one here adds its flag, variable, file key and default. */
export const SETTINGS = {
  dataDir: setting({
    arg: 'dir',
    schema: z.string().min(1),
    default: join(homedir(), '.gary'),
    defaultText: '`~/.gary`',
    help: 'peer key (a restart keeps the peer id), incarnation',
  }),
  name: setting({
    arg: 'name',
    schema: NodeNameSchema,
    default: nameFromHostname(hostname()),
    defaultText: "this machine's hostname",
    help: 'a name for people, shown beside the short node id in tables, events and logs (letters, digits, `.` `_` `-`)',
  }),
  listen: setting({
    arg: 'multiaddr',
    repeatable: true,
    schema: stringList,
    convert: multiaddrs('listen'),
    default: [`/ip4/0.0.0.0/tcp/${DEFAULT_PORT}`],
    defaultText: `\`/ip4/0.0.0.0/tcp/${DEFAULT_PORT}\``,
    help: 'where to listen',
  }),
  join: setting({
    arg: 'multiaddr',
    repeatable: true,
    schema: stringList,
    convert: multiaddrs('join'),
    default: [],
    defaultText: 'none',
    help: 'a member to join through',
  }),
  labels: setting({
    arg: 'k=v',
    flag: 'label',
    repeatable: true,
    schema: z.union([z.string(), z.array(z.string()), z.record(z.string(), z.coerce.string())]),
    convert: parseLabels,
    merge: (earlier, later) => ({ ...earlier, ...later }),
    default: {},
    defaultText: 'none',
    help: 'a label this node promises',
  }),
  cpu: setting({
    arg: 'n',
    schema: z.union([z.string(), z.number()]),
    convert: (value) => parseCpuMillis(String(value)),
    field: 'cpuMillis',
    defaultText: "the runtime's",
    help: 'CPU to offer: cores `2` or millicores `1500m`',
  }),
  memory: setting({
    arg: 'size',
    schema: z.union([z.string(), z.number()]),
    convert: (value) => parseMemoryBytes(String(value)),
    field: 'memoryBytes',
    defaultText: "the runtime's",
    help: 'memory to offer: `4Gi`, `512Mi`',
  }),
  api: setting({
    arg: 'host:port',
    schema: z.string().min(1),
    default: '127.0.0.1:7947',
    defaultText: '`127.0.0.1:7947`',
    help: 'local HTTP API; beyond loopback it needs a token',
  }),
  apiToken: setting({
    arg: 't',
    schema: z.string().min(16, 'must be at least 16 characters'),
    defaultText: 'none',
    help: 'bearer token the API demands (on the command line `ps` shows it: prefer the variable or a file)',
  }),
  apiTokenFile: setting({
    arg: 'file',
    schema: z.string().min(1),
    defaultText: 'none',
    help: 'a file whose first line is the API token',
  }),
  metrics: setting({
    arg: 'host:port',
    schema: z.string().min(1),
    defaultText: 'none',
    help: 'also serve `GET /metrics` (Prometheus) on a listener of its own (the API serves it too); beyond loopback it needs the API token',
  }),
  cluster: setting({
    arg: 'name',
    schema: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label (a-z, 0-9, -)'),
    default: 'default',
    defaultText: '`default`',
    help: 'clusters with other names ignore each other',
  }),
  clusterKey: setting({
    arg: 'file',
    schema: z.string().min(1),
    defaultText: 'none',
    help: 'pre-shared key (from `gary keygen`): peers without it cannot connect',
  }),
  secretsDir: setting({
    arg: 'dir',
    schema: z.string().min(1),
    default: '/dev/shm/gary',
    defaultText: '`/dev/shm/gary`',
    help: "where containers' secrets are written, one directory per node id: it must be on a tmpfs (secrets never touch the disk)",
  }),
  runtime: setting({
    arg: 'driver',
    schema: z.enum(['docker', 'fake']),
    default: 'docker',
    defaultText: '`docker`',
    help: 'container runtime: `docker`, or `fake` (runs no containers)',
  }),
  logLevel: setting({
    arg: 'level',
    schema: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    default: 'info',
    defaultText: '`info`',
    help: '`debug` shows every message judged',
  }),
  heartbeatMs: setting({
    arg: 'ms',
    schema: positiveMs,
    default: MEMBERSHIP_DEFAULTS.heartbeatMs,
    defaultText: String(MEMBERSHIP_DEFAULTS.heartbeatMs),
    help: 'how often a node tells its peers it is alive',
  }),
  suspectAfterMs: setting({
    arg: 'ms',
    schema: positiveMs,
    default: MEMBERSHIP_DEFAULTS.suspectAfterMs,
    defaultText: String(MEMBERSHIP_DEFAULTS.suspectAfterMs),
    help: 'silence after which a member is suspect',
  }),
  deadAfterMs: setting({
    arg: 'ms',
    schema: positiveMs,
    default: MEMBERSHIP_DEFAULTS.deadAfterMs,
    defaultText: String(MEMBERSHIP_DEFAULTS.deadAfterMs),
    help: 'silence after which a member is dead',
  }),
  targetPeers: setting({
    arg: 'n',
    schema: z.coerce.number().int().min(1).max(1000),
    default: MEMBERSHIP_DEFAULTS.targetPeers,
    defaultText: String(MEMBERSHIP_DEFAULTS.targetPeers),
    help: 'direct connections to keep; members beyond them are known by relayed liveness',
  }),
  allow: setting({
    arg: 'cidr',
    repeatable: true,
    schema: stringList,
    convert: multiaddrs('allow'),
    default: [],
    defaultText: 'none',
    help: 'multiaddr CIDRs exempt from connection rate limits, like `/ip4/10.0.0.0/ipcidr/8`',
  }),
  settleMs: setting({
    arg: 'ms',
    schema: z.coerce.number().int().min(0).max(60_000),
    default: DEFAULT_PLACEMENT_CONFIG.settleMs,
    defaultText: String(DEFAULT_PLACEMENT_CONFIG.settleMs),
    help: 'how long a claim waits for a better one before its container starts',
  }),
  promiseShards: setting({
    arg: 'n',
    schema: shardCount,
    default: DEFAULT_PLACEMENT_CONFIG.shards,
    defaultText: String(DEFAULT_PLACEMENT_CONFIG.shards),
    help:
      "ring shards (1 to 4096, the same on every node; about one per 32 nodes): past 1, a node's " +
      'promise changes reach only the nodes of its own and the neighbouring shards; past 3, ' +
      'membership is partial too (a node keeps the members of those shards and the ones it is ' +
      'connected to)',
  }),
  maxClockOffsetMs: setting({
    arg: 'ms',
    schema: positiveMs,
    default: DEFAULT_MAX_CLOCK_OFFSET_MS,
    defaultText: String(DEFAULT_MAX_CLOCK_OFFSET_MS),
    help:
      "a peer's timestamp further ahead of this node's clock is refused; a node this far from most " +
      "of its peers' clocks refuses `apply` and `rm` until its clock is fixed",
  }),
  advertise: setting({
    arg: 'host',
    schema: z.string().min(1).max(253),
    field: 'advertiseHost',
    defaultText: 'where other machines reach the node (the first address of `gary id`), else `127.0.0.1`',
    help: "where this node's published ports are reached (slot endpoints)",
  }),
  dns: setting({
    arg: 'address',
    schema: z.union([
      z.enum(['gateway', 'off']),
      z.string().refine((value) => isIP(value) !== 0, 'must be gateway, off or an IP address'),
    ]),
    default: 'gateway',
    defaultText: '`gateway`',
    help:
      "the name server containers are given, which answers workload names: `gateway` (the engine's " +
      'bridge gateway), an address of this host, or `off`',
  }),
  mesh: setting({
    arg: 'mode',
    schema: z.enum(['auto', 'kernel', 'userland']),
    field: 'meshMode',
    default: 'auto',
    defaultText: '`auto`',
    help:
      'who forwards published ports: `kernel` (nftables NAT rules in a table of its own, `gary-mesh`; ' +
      'needs root), `userland` (a proxy in the daemon), or `auto`: the kernel when the node runs as ' +
      'root with nftables and advertises an address beyond loopback, else the proxy',
  }),
  allowHostPath: setting({
    arg: 'prefix',
    repeatable: true,
    schema: stringList,
    convert: hostPathPrefixes,
    field: 'allowHostPaths',
    default: [],
    defaultText: 'none',
    help:
      'a path of this host that workloads may bind-mount, with what lies below it (symbolic links ' +
      'resolved: one that leads out is refused); a workload whose bind mount no node allows runs nowhere',
  }),
  drainMs: setting({
    arg: 'ms',
    schema: z.coerce.number().int().min(0).max(600_000),
    default: 1000,
    defaultText: '1000',
    help: 'how long a released slot that served published ports keeps running at least, for connections in flight to end (it also waits for every mesh to stop sending it new ones); 0: no drain',
  }),
}

type Defs = typeof SETTINGS
export type SettingKey = keyof Defs
type Of<K extends SettingKey> =
  Defs[K] extends Setting<infer _Schema extends z.ZodType, infer Out, infer Field, infer Default>
    ? {
        out: Out
        field: Field extends string ? Field : K
        defaulted: undefined extends Default ? false : true
      }
    : never
type FieldOf<K extends SettingKey> = Of<K>['field']
type ValueOf<K extends SettingKey> = Of<K>['out']
type Defaulted = { [K in SettingKey]: Of<K>['defaulted'] extends true ? K : never }[SettingKey]

/** Everything `gary daemon` can be told, as `SETTINGS` says; a setting without a default may be absent. */
export type DaemonConfig = { [K in Defaulted as FieldOf<K>]: ValueOf<K> } & {
  [K in Exclude<SettingKey, Defaulted> as FieldOf<K>]?: ValueOf<K>
}

/** What a config file, the environment or flags may say: all optional, merged over the defaults. */
export type Settings = { [K in SettingKey]?: z.input<Defs[K]['schema']> }

/** The settings in table order, with what derives from each key. */
export const SETTING_LIST = (Object.keys(SETTINGS) as SettingKey[]).map((key) => {
  // Seen through its erased type: each entry's own types are checked where it is written.
  const def = SETTINGS[key] as unknown as Setting<z.ZodType, unknown, string | undefined, unknown>
  return {
    key,
    def,
    flag: def.flag ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
    env: `GARY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`,
    field: def.field ?? key,
  }
})

/** The config with no setting given. */
export const DEFAULTS = Object.fromEntries(
  SETTING_LIST.filter(({ def }) => def.default !== undefined).map(({ field, def }) => [field, def.default]),
) as DaemonConfig

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

function multiaddrs(what: string): (addrs: string[]) => string[] {
  return (addrs) => {
    const bad = addrs.filter((addr) => {
      try {
        multiaddr(addr)
        return false
      } catch {
        return true
      }
    })
    if (bad.length > 0)
      throw new ConfigError(
        bad
          .map((addr) => `${what}: "${addr}" is not a multiaddr (like /ip4/10.0.0.1/tcp/${DEFAULT_PORT})`)
          .join('\n'),
      )
    return addrs
  }
}

function hostPathPrefixes(prefixes: string[]): string[] {
  let normal: string[]
  try {
    normal = normaliseHostPathPrefixes(prefixes)
  } catch (err) {
    throw new ConfigError(`allowHostPath: ${(err as Error).message.replace(/^--allow-host-path /, '')}`)
  }
  if (normal.length > MAX_HOST_PATHS)
    throw new ConfigError(`allowHostPath: at most ${MAX_HOST_PATHS} prefixes (give a common parent)`)
  if (normal.some((prefix) => prefix.length > 1024))
    throw new ConfigError('allowHostPath: a prefix is longer than 1024 characters')
  return normal
}

export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}
