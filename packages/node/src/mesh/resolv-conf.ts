import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'

/**
 * The name servers of a resolv.conf (`nameserver` lines, in order), leaving out `except` (the
 * node's own name server: forwarding to itself would loop). Unreadable: none.
 */
export async function hostResolvers(
  path = '/etc/resolv.conf',
  except: readonly string[] = [],
): Promise<string[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return []
  }
  return parseResolvConf(text).filter((server) => !except.includes(server))
}

export function parseResolvConf(text: string): string[] {
  const servers: string[] = []
  for (const line of text.split('\n')) {
    const [keyword, address] = line.trim().split(/\s+/)
    // A scoped IPv6 address (fe80::1%eth0) keeps its zone: the socket needs it.
    if (keyword === 'nameserver' && address !== undefined && isIP(address.split('%')[0] ?? '') !== 0)
      servers.push(address)
  }
  return servers
}
