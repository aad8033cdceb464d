import { createServer, isIPv4, type Server } from 'node:net'
import { UserError } from '../errors.js'
import type { NetfilterProbe } from './netfilter.js'

/** How published ports are forwarded: `auto` picks `kernel` where it is safe (see `chooseMeshMode`). */
export type MeshMode = 'auto' | 'kernel' | 'userland'
export const MESH_MODES: readonly MeshMode[] = ['auto', 'kernel', 'userland']

/** `--mesh kernel` was asked for where the kernel cannot forward published ports. */
export class MeshModeError extends UserError {
  override name = 'MeshModeError'
}

export interface MeshModeFacts {
  /** Where other machines reach this node. */
  advertise: string
  /** What netfilter allows (asked only when the mode may be kernel). */
  probe: () => Promise<NetfilterProbe>
  /** Takes this network namespace's kernel mesh for this daemon; false when another daemon has it. */
  lock: () => Promise<boolean>
}

export type MeshModeChoice = { mode: 'userland'; reason: string } | { mode: 'kernel'; forwarding: boolean }

/**
 * Kernel forwarding when it was asked for, or, with `auto`, when the node serves other machines
 * (it advertises an address beyond loopback: a cluster on one host, as tests and the demo run,
 * keeps the host's firewall untouched), runs as root with nftables, and no other daemon of this
 * network namespace already writes the mesh's table. `kernel` that cannot be is an error.
 */
export async function chooseMeshMode(asked: MeshMode, facts: MeshModeFacts): Promise<MeshModeChoice> {
  if (asked === 'userland') return { mode: 'userland', reason: '--mesh userland' }
  const refuse = (reason: string): MeshModeChoice => {
    if (asked === 'kernel') throw new MeshModeError(`--mesh kernel: ${reason}; use --mesh userland or auto`)
    return { mode: 'userland', reason }
  }
  if (asked === 'auto' && !isIPv4(facts.advertise))
    return refuse(`the node advertises ${facts.advertise}, not an IPv4 address`)
  if (asked === 'auto' && facts.advertise.startsWith('127.'))
    return refuse('the node advertises a loopback address: its cluster is on this host alone')
  const probe = await facts.probe()
  if (!probe.usable) return refuse(`nftables cannot be used: ${probe.reason}`)
  if (!(await facts.lock()))
    return refuse('another Gary daemon in this network namespace forwards published ports in the kernel')
  return { mode: 'kernel', forwarding: probe.forwarding }
}

/**
 * The network namespace's lock on the kernel mesh: an abstract Unix socket, which lives in the
 * namespace and goes with the process that holds it (a crash frees it).
 */
export async function lockNetns(name = 'gary-mesh-kernel'): Promise<Server | undefined> {
  const server = createServer()
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined)
      else reject(err)
    })
    server.listen({ path: `\0${name}` }, () => {
      server.unref()
      resolve(server)
    })
  })
}
