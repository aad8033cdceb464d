import './polyfill.js'
import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import { ApiClient } from './client.js'
import { generateClusterKey } from './cluster-key.js'
import {
  type DaemonConfig,
  resolveConfig,
  type Settings,
  settingsFromEnv,
  settingsFromFile,
} from './config.js'
import type { NodeView } from './daemon.js'
import { renderTable } from './table.js'
import { formatBytes } from './units.js'

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

function clientCommand(name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option('--api <host:port>', 'daemon API address (env GARY_API, default 127.0.0.1:7947)')
    .option('--api-token <token>', 'API token (env GARY_API_TOKEN)')
    .option('--json', 'print JSON')
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
