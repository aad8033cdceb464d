import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os'

/** Where an address of this node can be dialled from. */
export type Reach = 'remote' | 'loopback' | 'container'

export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>

/**
 * Interfaces that container runtimes and overlay networks make: their addresses exist on every
 * machine that runs them (Docker's 172.17.0.1 on each), so a peer that dials one reaches itself.
 */
const CONTAINER_LINK =
  /^(docker\d*|docker_gwbridge|br-[0-9a-f]{12}|veth|cni|flannel|cali|cilium|weave|vxlan|kube-|virbr|lxcbr|lxdbr|podman|nerdctl)/

/** How far an address of this host reaches: by its interface's name, loopback by its range. */
export function reachOf(multiaddr: string, interfaces: Interfaces): Reach {
  const match = /^\/(ip4|ip6)\/([^/]+)/.exec(multiaddr)
  // DNS names and other transports are the operator's choice: taken as meant for others.
  if (match === null) return 'remote'
  const ip = match[2]!
  if (/^127\./.test(ip) || ip === '::1') return 'loopback'
  if (/^fe80:/i.test(ip) || /^169\.254\./.test(ip)) return 'container'
  for (const [name, infos] of Object.entries(interfaces)) {
    if (infos?.some((info) => info.address === ip) === true)
      return CONTAINER_LINK.test(name) ? 'container' : 'remote'
  }
  return 'remote'
}

/**
 * The addresses a peer on another machine can dial, out of this node's own (in their order): the
 * remote ones; when there are none, the loopback ones (every node on one host); when there are
 * none either, container bridges.
 */
export function dialableAddrs(
  addrs: readonly string[],
  interfaces: Interfaces = networkInterfaces(),
): string[] {
  const byReach: Record<Reach, string[]> = { remote: [], loopback: [], container: [] }
  for (const addr of addrs) byReach[reachOf(addr, interfaces)].push(addr)
  return byReach.remote.length > 0
    ? byReach.remote
    : byReach.loopback.length > 0
      ? byReach.loopback
      : byReach.container
}

/** The host part of a multiaddr (`/ip4/10.0.0.1/tcp/4279` -> `10.0.0.1`), if it has one. */
export function hostOf(multiaddr: string | undefined): string | undefined {
  return /^\/(?:ip4|ip6|dns|dns4|dns6)\/([^/]+)/.exec(multiaddr ?? '')?.[1]
}
