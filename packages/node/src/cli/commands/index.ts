import type { Command } from 'commander'

/** A subcommand of `gary`: its name and summary, and the module that adds it in full. */
export interface CommandEntry {
  name: string
  description: string
  load(): Promise<{ add(program: Command, entry: CommandEntry): unknown }>
}

/**
 * Every subcommand, in the order `gary --help` lists them. Only the command being run is loaded
 * (each of its modules, and what they import, costs start-up time); the others are named only.
 * Help and shell completion load them all.
 */
export const COMMANDS: CommandEntry[] = [
  { name: 'daemon', description: 'run a Gary node on this machine', load: () => import('./daemon.js') },
  {
    name: 'keygen',
    description: 'print a new cluster key; give every node the same file with --cluster-key',
    load: () => import('./keygen.js'),
  },
  {
    name: 'id',
    description: "print where other machines reach this node, to pass to another node's --join",
    load: () => import('./id.js'),
  },
  {
    name: 'node',
    description: 'the cluster members: list them (ls), look at one (inspect), ban one (ban, unban)',
    load: () => import('./node.js'),
  },
  {
    name: 'nodes',
    description: 'list the cluster members this node knows (as gary node ls)',
    load: () => import('./nodes.js'),
  },
  {
    name: 'apply',
    description:
      'declare the workloads of YAML or JSON spec files, or of a Compose file, on the whole cluster',
    load: () => import('./apply.js'),
  },
  {
    name: 'convert',
    description: 'print the Gary specs of a Compose file (or of spec files), without applying them',
    load: () => import('./convert.js'),
  },
  { name: 'rm', description: 'delete workloads from the cluster', load: () => import('./rm.js') },
  {
    name: 'rollout',
    description: "follow a workload's rollout (status): slots updated and ready per wave",
    load: () => import('./rollout.js'),
  },
  {
    name: 'history',
    description: 'list the revisions a workload keeps, newest first',
    load: () => import('./history.js'),
  },
  {
    name: 'rollback',
    description: 'declare an earlier revision of a workload again (the previous one, or --to REV)',
    load: () => import('./rollback.js'),
  },
  {
    name: 'scale',
    description: 'set the replicas of workloads: gary scale web=5',
    load: () => import('./scale.js'),
  },
  {
    name: 'restart',
    description: 'replace every container of a workload with a fresh one, in waves, at the same spec',
    load: () => import('./restart.js'),
  },
  { name: 'get', description: 'list the declared workloads', load: () => import('./get.js') },
  {
    name: 'secret',
    description: "the cluster's secrets: create or change one (create), list them (ls), remove one (rm)",
    load: () => import('./secret.js'),
  },
  {
    name: 'login',
    description:
      'store a registry login, sealed as a secret: every node pulls images from that registry with it',
    load: () => import('./login.js'),
  },
  {
    name: 'logout',
    description: "forget the cluster's login for a registry",
    load: () => import('./logout.js'),
  },
  {
    name: 'volume',
    description: "the slots' named volumes: list every node's (ls), remove unused ones (rm)",
    load: () => import('./volume.js'),
  },
  {
    name: 'drain',
    description: 'hand every slot of a node (this one without NODE) over to others, and take no new ones',
    load: () => import('./drain.js'),
  },
  {
    name: 'ps',
    description: 'list every slot: where it runs and in what phase, and the slots no node can take',
    load: () => import('./ps.js'),
  },
  {
    name: 'endpoints',
    description:
      'list every published port: the addresses that reach it on every node, and the ready slots behind them',
    load: () => import('./endpoints.js'),
  },
  {
    name: 'inspect',
    description: 'show a workload as stored, with its version and where each slot runs',
    load: () => import('./inspect.js'),
  },
  {
    name: 'logs',
    description: "print a workload's container logs, from whichever node holds each slot",
    load: () => import('./logs.js'),
  },
  {
    name: 'ui',
    description: 'print the address of the live page this node serves (nodes, slots, events, charts)',
    load: () => import('./ui.js'),
  },
  {
    name: 'events',
    description:
      'print what every node did and saw, and why, in one order (claims and their rules, starts, exits, members)',
    load: () => import('./events.js'),
  },
  {
    name: 'completion',
    description: 'print a shell completion script: source <(gary completion bash), or zsh, or fish',
    load: () => import('./completion.js'),
  },
]
