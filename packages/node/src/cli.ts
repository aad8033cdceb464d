import './polyfill.js'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { MAX_SPEC_FILE_BYTES } from '@gary/protocol'
import { Command, Option } from 'commander'
import { stringify as stringifyYaml } from 'yaml'
import type { NodeView, WorkloadRow } from './api/routes.js'
import type { SlotRow } from './api/slot-rows.js'
import { ApiClient } from './cli/client.js'
import { renderTable } from './cli/table.js'
import {
  type DaemonConfig,
  resolveConfig,
  type Settings,
  settingsFromEnv,
  settingsFromFile,
} from './config/config.js'
import { formatBytes } from './config/units.js'
import { UserError } from './errors.js'
import type { LogItem } from './logs/sources.js'
import { generateClusterKey } from './net/cluster-key.js'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value]

const program = new Command('gary')
  .description('Gary: a container orchestrator with no control plane')
  .version(version)
  .showHelpAfterError('(run with --help for usage)')

program
  .command('daemon')
  .description('run a Gary node on this machine')
  .option('--config <file>', 'YAML or JSON file of settings (env GARY_CONFIG)')
  .option('--data-dir <dir>', 'peer key and state (default ~/.gary)')
  .option('--listen <multiaddr>', 'address to listen on, repeatable (default /ip4/0.0.0.0/tcp/7946)', collect)
  .option('--join <multiaddr>', "a member's address to join through, repeatable", collect)
  .option('--label <key=value>', 'a label this node promises, repeatable', collect)
  .option('--cpu <amount>', 'CPU to offer, cores (2) or millicores (1500m) (default: all)')
  .option('--memory <size>', 'memory to offer, like 4Gi (default: all)')
  .option('--api <host:port>', 'HTTP API address (default 127.0.0.1:7947)')
  .option('--api-token <token>', 'token the API demands (required beyond loopback)')
  .option('--cluster <name>', 'cluster name (default "default")')
  .option('--cluster-key <file>', 'pre-shared key closing the cluster (from `gary keygen`)')
  .addOption(
    new Option('--runtime <driver>', 'container runtime (default docker)').choices(['docker', 'fake']),
  )
  .addOption(
    new Option('--log-level <level>', 'log level (default info)').choices([
      'trace',
      'debug',
      'info',
      'warn',
      'error',
    ]),
  )
  .option('--heartbeat-ms <ms>', 'heartbeat interval (default 1000)')
  .option('--suspect-after-ms <ms>', 'heartbeat age that makes a member suspect (default 2000)')
  .option('--dead-after-ms <ms>', 'heartbeat age that makes a member dead (default 3000)')
  .option('--target-peers <n>', 'direct connections to keep (default 32)')
  .option('--settle-ms <ms>', 'how long a claim waits for a better one before it starts (default 300)')
  .option(
    '--promise-shards <n>',
    'ring shards: past 1, promise changes reach only nearby nodes; every node needs the same value (default 1)',
  )
  .option('--advertise <host>', "address at which this node's published ports are reached")
  .option(
    '--allow <multiaddr>',
    'CIDR exempt from connection limits, like /ip4/10.0.0.0/ipcidr/8, repeatable',
    collect,
  )
  .action(async (options: Record<string, unknown>) => {
    const config = await daemonConfig(options)
    // Loaded here so that client commands start without libp2p and the container runtime.
    const { runDaemon } = await import('./run.js')
    await runDaemon(config)
  })

program
  .command('keygen')
  .description('print a new cluster key; give every node the same file with --cluster-key')
  .action(() => {
    process.stdout.write(generateClusterKey())
    process.stdout.write('\n')
  })

clientCommand('id', "print this node's addresses, to pass to another node's --join").action(
  async (options) => {
    const id = await client(options).get<{ id: string; addrs: string[] }>('/v1/id')
    print(options, id, () => id.addrs.join('\n'))
  },
)

clientCommand('nodes', 'list the cluster members this node knows').action(async (options) => {
  const nodes = await client(options).get<NodeView[]>('/v1/nodes')
  print(options, nodes, () =>
    renderTable(
      ['NODE', 'STATE', 'ADDRESSES', 'LABELS', 'CPU', 'MEMORY', 'LAST HEARD'],
      nodes.map((node) => [
        node.self ? `${node.id} (self)` : node.id,
        node.state,
        node.addrs.join(','),
        Object.entries(node.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        `${node.capacity.cpuMillis / 1000}`,
        formatBytes(node.capacity.memoryBytes),
        node.self ? '-' : `${(node.lastSeenMs / 1000).toFixed(1)}s ago`,
      ]),
    ),
  )
})

clientCommand('apply', 'declare the workloads of a YAML or JSON file, on the whole cluster')
  .requiredOption('-f, --file <file>', 'workload spec file (YAML or JSON, one or more documents)')
  .action(async (options) => {
    const text = await readSpecFile(options.file as string)
    const results = await client(options).request<{ name: string; outcome: string }[]>('POST', '/v1/apply', {
      text,
    })
    print(options, results, () => results.map((r) => `${r.name}: ${r.outcome}`).join('\n'))
  })

clientCommand('rm', 'delete workloads from the cluster')
  .argument('<names...>', 'workload names')
  .action(async (names: string[], options) => {
    const api = client(options)
    const results: { name: string; outcome: string }[] = []
    for (const name of names) {
      results.push(await api.request('DELETE', `/v1/workloads/${encodeURIComponent(name)}`))
    }
    print(options, results, () => results.map((r) => `${r.name}: ${r.outcome}`).join('\n'))
    if (results.some((r) => r.outcome === 'not found')) process.exitCode = 1
  })

clientCommand('get', 'list the declared workloads').action(async (options) => {
  const rows = await client(options).get<WorkloadRow[]>('/v1/workloads')
  print(options, rows, () =>
    renderTable(
      ['NAME', 'IMAGE', 'REPLICAS', 'GENERATION', 'UPDATED', 'ORIGIN'],
      rows.map((r) => [
        r.name,
        r.image,
        r.mode === 'global' ? 'global' : String(r.replicas),
        r.generation,
        r.updated,
        r.origin,
      ]),
    ),
  )
})

clientCommand('drain', 'hand every slot of this node over to others, and take no new ones')
  .option('--off', 'end the drain: take work again (slots already moved stay where they are)')
  .action(async (options) => {
    const on = options.off !== true
    const answer = await client(options).request<{ node: string; draining: boolean; changed: boolean }>(
      'POST',
      '/v1/drain',
      { on },
    )
    print(
      options,
      answer,
      () =>
        `${answer.node}: ${answer.draining ? 'draining' : 'not draining'}${answer.changed ? '' : ' (already)'}`,
    )
  })

clientCommand('ps', 'list every slot: where it runs and in what phase, and the slots no node can take')
  .argument('[name]', 'only this workload')
  .action(async (name: string | undefined, options) => {
    const all = await client(options).get<SlotRow[]>('/v1/slots')
    const rows = name === undefined ? all : all.filter((row) => row.workload === name)
    print(options, rows, () => renderSlots(rows))
  })

clientCommand('inspect', 'show a workload as stored, with its version and where each slot runs')
  .argument('<name>', 'workload name')
  .action(async (name: string, options) => {
    const workload = await client(options).get<unknown>(`/v1/workloads/${encodeURIComponent(name)}`)
    print(options, workload, () => stringifyYaml(workload).trimEnd())
  })

clientCommand('logs', "print a workload's container logs, from whichever node holds each slot")
  .argument('<name>', 'workload name')
  .option('--slot <n>', 'only this slot')
  .option('-f, --follow', "keep printing new lines until Ctrl-C or the container's process exits")
  .option('--tail <n>', 'only the last n lines of each slot')
  .action(async (name: string, options) => {
    const query = new URLSearchParams()
    if (options.slot !== undefined) query.set('slot', wholeNumber('--slot', options.slot as string))
    if (options.follow === true) query.set('follow', '1')
    if (options.tail !== undefined) query.set('tail', wholeNumber('--tail', options.tail as string))
    const api = client(options)
    // A global workload runs its one slot on every node: its lines are told apart by node.
    const { mode } = await api.get<WorkloadRow>(`/v1/workloads/${encodeURIComponent(name)}`)
    const prefixed = mode === 'global' || options.slot === undefined
    const prefix = (item: LogItem) =>
      !prefixed ? '' : mode === 'global' ? `[${name}@${item.node.slice(-8)}] ` : `[${name}/${item.slot}] `
    const stop = new AbortController()
    const interrupt = () => stop.abort()
    process.once('SIGINT', interrupt)
    process.once('SIGTERM', interrupt)
    // EPIPE: whoever read the output (head, less) is gone.
    process.stdout.once('error', interrupt)
    const write = async (text: string) => {
      if (!process.stdout.write(text))
        await once(process.stdout, 'drain', { signal: stop.signal }).catch(() => {})
    }
    const path = `/v1/logs/${encodeURIComponent(name)}?${query}`
    try {
      for await (const item of api.stream<LogItem | { error: string }>(path, stop.signal)) {
        if (options.json === true) await write(`${JSON.stringify(item)}\n`)
        else if (!('slot' in item))
          throw new UserError(`the daemon failed while streaming logs: ${item.error}`)
        else if ('error' in item) process.stderr.write(`gary: ${prefix(item)}${item.error}\n`)
        else if (item.stream === 'stderr') process.stderr.write(`${prefix(item)}${item.line}\n`)
        else await write(`${prefix(item)}${item.line}\n`)
        if ('error' in item) process.exitCode = 1
      }
    } finally {
      process.off('SIGINT', interrupt)
      process.off('SIGTERM', interrupt)
      process.stdout.off('error', interrupt)
    }
  })

function renderSlots(rows: SlotRow[]): string {
  const placed = rows.filter((row) => row.phase !== 'unschedulable')
  const stuck = rows.filter((row) => row.phase === 'unschedulable')
  const table = renderTable(
    ['WORKLOAD', 'SLOT', 'NODE', 'PHASE', 'READY', 'CONTAINER', 'GENERATION', 'AGE', 'ENDPOINTS'],
    placed.map((row) => [
      row.workload,
      String(row.slot),
      row.node ?? '-',
      row.phase,
      row.ready ? 'yes' : 'no',
      row.containerId?.slice(0, 12) ?? '-',
      row.generation.slice(0, 12),
      formatAge(row.ageMs ?? 0),
      row.endpoints.join(','),
    ]),
  )
  const lines = stuck.map(
    (row) =>
      `${row.workload}/${row.slot}${row.node === null ? '' : ` on ${row.node}`}: unschedulable: ${(row.reasons ?? []).join('; ')}`,
  )
  return [table, ...(lines.length > 0 ? ['', ...lines] : [])].join('\n')
}

function formatAge(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  if (seconds < 120) return `${seconds}s`
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`
  return `${Math.floor(seconds / 3600)}h`
}

function clientCommand(name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option('--api <host:port>', 'daemon API address (env GARY_API, default 127.0.0.1:7947)')
    .option('--api-token <token>', 'API token (env GARY_API_TOKEN)')
    .option('--json', 'print JSON')
}

function wholeNumber(flag: string, value: string): string {
  if (!/^\d{1,9}$/.test(value))
    throw new UserError(`${flag} takes a whole number, not ${JSON.stringify(value)}`)
  return String(Number(value))
}

/** Reads a spec file, refusing one too large to be a spec before sending anything. */
async function readSpecFile(path: string): Promise<string> {
  let size: number
  try {
    size = (await stat(path)).size
  } catch (err) {
    throw new UserError(`cannot read ${path}: ${(err as Error).message}`)
  }
  if (size > MAX_SPEC_FILE_BYTES) {
    throw new UserError(
      `${path} is ${size} bytes, over the ${MAX_SPEC_FILE_BYTES} byte limit for a spec file: nothing applied`,
    )
  }
  return readFile(path, 'utf8')
}

function client(options: Record<string, unknown>): ApiClient {
  return new ApiClient({
    api: (options.api as string | undefined) ?? process.env.GARY_API ?? '127.0.0.1:7947',
    token: (options.apiToken as string | undefined) ?? process.env.GARY_API_TOKEN,
  })
}

function print(options: Record<string, unknown>, value: unknown, text: () => string): void {
  process.stdout.write(`${options.json === true ? JSON.stringify(value, null, 2) : text()}\n`)
}

async function daemonConfig(options: Record<string, unknown>): Promise<DaemonConfig> {
  const flags: Settings = {}
  const names: [string, keyof Settings][] = [
    ['dataDir', 'dataDir'],
    ['listen', 'listen'],
    ['join', 'join'],
    ['label', 'labels'],
    ['cpu', 'cpu'],
    ['memory', 'memory'],
    ['api', 'api'],
    ['apiToken', 'apiToken'],
    ['cluster', 'cluster'],
    ['clusterKey', 'clusterKey'],
    ['runtime', 'runtime'],
    ['logLevel', 'logLevel'],
    ['heartbeatMs', 'heartbeatMs'],
    ['suspectAfterMs', 'suspectAfterMs'],
    ['deadAfterMs', 'deadAfterMs'],
    ['targetPeers', 'targetPeers'],
    ['allow', 'allow'],
    ['settleMs', 'settleMs'],
    ['promiseShards', 'promiseShards'],
    ['advertise', 'advertise'],
  ]
  for (const [option, setting] of names) {
    if (options[option] !== undefined) (flags as Record<string, unknown>)[setting] = options[option]
  }
  const file = (options.config as string | undefined) ?? process.env.GARY_CONFIG
  return resolveConfig([
    ...(file === undefined
      ? []
      : [{ source: `config file ${file}`, settings: await settingsFromFile(file) }]),
    { source: 'environment', settings: settingsFromEnv(process.env) },
    { source: 'flags', settings: flags },
  ])
}

/** Errors a user can act on print as one sentence; anything else is a bug and prints its stack. */
const USER_ERRORS = new Set([
  'UserError',
  'ConfigError',
  'ClusterKeyError',
  'DaemonUnreachableError',
  'ApiError',
  'RuntimeUnavailableError',
  'ImagePullError',
])

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`gary: ${USER_ERRORS.has(err.name) ? err.message : (err.stack ?? String(err))}\n`)
  process.exit(1)
})
