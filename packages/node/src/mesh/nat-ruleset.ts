import { isIPv4 } from 'node:net'

/** The nftables table the kernel mesh owns, whole: it never writes anywhere else. */
export const NAT_TABLE = 'gary-mesh'

/** A published port and where its new connections go, spread evenly. */
export interface ForwardedPort {
  port: number
  targets: readonly { host: string; port: number; local: boolean }[]
}

export interface NatRulesetOptions {
  /**
   * Whether this namespace forwards packets (another firewall's forward policy may drop them):
   * without it only ports whose targets are all local are forwarded by the kernel.
   */
  forwarding: boolean
}

/** The ports the kernel forwards: the others stay with the userland proxy, which also holds them. */
export function kernelPorts(ports: readonly ForwardedPort[], options: NatRulesetOptions): ForwardedPort[] {
  return ports
    .filter(
      (p) =>
        p.targets.length > 0 &&
        p.targets.every((t) => isIPv4(t.host)) &&
        (options.forwarding || p.targets.every((t) => t.local)),
    )
    .sort((a, b) => a.port - b.port)
}

/**
 * The table, as one `nft -f` transaction: it replaces whatever the table held (a crashed
 * daemon's leftovers included) or nothing at all. New TCP connections to a local address at a
 * forwarded port are sent to one of its targets at random (`numgen`), from outside (prerouting)
 * and from this host itself (output; loopback stays with the userland proxy: a DNAT from
 * 127.0.0.1 would need route_localnet); they leave with this host's address (masquerade), so that
 * answers come back through it. Connections open when the rules change keep their target: that is
 * the drain.
 */
export function natRuleset(ports: readonly ForwardedPort[], options: NatRulesetOptions): string {
  const served = kernelPorts(ports, options)
  const set = `{ ${served.map((p) => p.port).join(', ')} }`
  const dnat = served.map((p) => `tcp dport ${p.port} ${dnatTo(p.targets)}`)
  return [
    `table ip ${NAT_TABLE}`,
    `delete table ip ${NAT_TABLE}`,
    `table ip ${NAT_TABLE} {`,
    // Before the engine's own nat chains (-100), which then leave a mapped connection alone.
    '  chain prerouting {',
    '    type nat hook prerouting priority -110; policy accept;',
    ...dnat.map((rule) => `    fib daddr type local ${rule}`),
    '  }',
    '  chain output {',
    '    type nat hook output priority -110; policy accept;',
    ...dnat.map((rule) => `    ip daddr != 127.0.0.0/8 fib daddr type local ${rule}`),
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority 90; policy accept;',
    ...(served.length > 0
      ? [`    meta l4proto tcp ct status dnat ct original proto-dst ${set} masquerade`]
      : []),
    '  }',
    '}',
    '',
  ].join('\n')
}

/** Removes the table, if there is one. */
export function natRemoval(): string {
  return `table ip ${NAT_TABLE}\ndelete table ip ${NAT_TABLE}\n`
}

function dnatTo(targets: ForwardedPort['targets']): string {
  if (targets.length === 1) return `dnat ip to ${targets[0]!.host}:${targets[0]!.port}`
  const map = targets.map((t, i) => `${i} : ${t.host} . ${t.port}`).join(', ')
  return `dnat ip to numgen random mod ${targets.length} map { ${map} }`
}
