import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** Whether an IP address (v4, v6, or v4-mapped v6) is a loopback address; false for names. */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address)
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * The addresses a host name or literal stands for, and whether all of them are loopback: the
 * answer to "does this address reach beyond this machine", which a pattern on the name cannot
 * give (`127.example.com` is a name anyone can point anywhere).
 */
export async function resolveLoopback(host: string): Promise<{ loopback: boolean; addresses: string[] }> {
  const addresses =
    isIP(host) !== 0 ? [host] : (await lookup(host, { all: true })).map((entry) => entry.address)
  return { loopback: addresses.length > 0 && addresses.every(isLoopbackAddress), addresses }
}
