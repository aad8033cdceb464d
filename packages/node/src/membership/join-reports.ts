import type { Logger } from '../logger.js'

/**
 * Says why a join address cannot be dialled: at warn, once per address each time the reason
 * changes, and at info when a dial to it succeeds after a failure or for the first time, never at
 * every redial.
 */
export class JoinReports {
  readonly #last = new Map<string, string>()

  constructor(private readonly logger: Logger) {}

  failed(addr: string, err: unknown): void {
    const reason = joinFailure(err)
    if (this.#last.get(addr) === reason) return
    this.#last.set(addr, reason)
    this.logger.warn({ join: addr, reason }, 'cannot join')
  }

  joined(addr: string, peer: string): void {
    if (this.#last.get(addr) === JOINED) return
    this.#last.set(addr, JOINED)
    this.logger.info({ join: addr, peer }, 'joined')
  }
}

const JOINED = '\0joined'

/** One sentence for why a dial failed, the same sentence for the same cause (no ports, no timings). */
export function joinFailure(err: unknown): string {
  const { codes, names, messages } = causes(err)
  if (codes.has('ECONNREFUSED'))
    return 'connection refused: nothing listens there (is its daemon running, on this port?)'
  // A silent machine times out or, once ARP gives up, is unreachable: one outcome, not two that alternate.
  if (
    codes.has('EHOSTUNREACH') ||
    codes.has('ENETUNREACH') ||
    names.has('TimeoutError') ||
    messages.some((m) => /timed? ?out/i.test(m))
  )
    return 'no answer: the machine is down or unreachable, the address is wrong, or a firewall drops the port'
  if (
    codes.has('ECONNRESET') ||
    names.has('EncryptionFailedError') ||
    messages.some((m) => /unexpected end of input/i.test(m))
  )
    return 'the connection closed during the handshake: is the cluster key the same on both sides?'
  return `dial failed: ${(messages[0] ?? String(err)).split('\n')[0]!.slice(0, 200)}`
}

/** Codes, names and messages of an error, its causes and the errors it aggregates. */
function causes(err: unknown): { codes: Set<string>; names: Set<string>; messages: string[] } {
  const codes = new Set<string>()
  const names = new Set<string>()
  const messages: string[] = []
  const seen = new Set<unknown>()
  const walk = (e: unknown, depth: number) => {
    if (typeof e !== 'object' || e === null || seen.has(e) || depth > 4) return
    seen.add(e)
    const { code, name, message, cause, errors } = e as {
      code?: unknown
      name?: unknown
      message?: unknown
      cause?: unknown
      errors?: unknown
    }
    if (typeof code === 'string') codes.add(code)
    if (typeof name === 'string') names.add(name)
    if (typeof message === 'string') {
      messages.push(message)
      // libp2p's TCP errors carry the system error's code only in the message.
      for (const match of message.matchAll(/\b(E[A-Z]{4,})\b/g)) codes.add(match[1]!)
    }
    walk(cause, depth + 1)
    if (Array.isArray(errors)) for (const inner of errors) walk(inner, depth + 1)
  }
  walk(err, 0)
  return { codes, names, messages }
}
