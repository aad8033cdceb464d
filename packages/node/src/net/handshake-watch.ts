import type { ConnectionProtector, MultiaddrConnection } from '@libp2p/interface'

/**
 * The first bytes each side of a libp2p connection sends once it is protected: the
 * multistream-select header, length-prefixed. Anything else means the two sides do not share a
 * cluster key (or one has none): the pre-shared key's stream cipher turns the peer's header
 * into noise.
 */
const HEADER = new Uint8Array([0x13, ...new TextEncoder().encode('/multistream/1.0.0\n')])

/** A connection whose handshake failed in a way a cluster key mismatch explains. */
export interface HandshakeFailure {
  /** The other side's address. */
  addr: string
  /** What was seen: noise where the first protocol message belongs, or the peer hanging up before it. */
  seen: 'garbled' | 'closed'
}

/** Raised into the upgrade in place of the noise a mismatched key produced. */
export class ClusterKeyMismatchError extends Error {
  override name = 'ClusterKeyMismatchError'
}

/**
 * Wraps the connection protector (the cluster key's, or none) to tell a failed handshake that a
 * different cluster key explains from any other: libp2p itself says only "unexpected end of
 * input", at debug. Checks the first bytes that come out of the protection on each connection,
 * on both sides of it, and reports:
 * - `garbled`: they are not the protocol header (the sides hold different keys, or one none);
 * - `closed`: with a key, the peer exchanged key nonces, then hung up before its header (it
 *   found this side's bytes garbled). A peer that hangs up before the nonces is not reported:
 *   a listener refusing a connection (rate limits) does that too.
 */
export function watchHandshakes<C>(
  inner: ((components: C) => ConnectionProtector) | undefined,
  onFailure: (failure: HandshakeFailure) => void,
): (components: C) => ConnectionProtector {
  return (components) => {
    const protector = inner?.(components)
    return {
      async protect(connection: MultiaddrConnection, options): Promise<MultiaddrConnection> {
        const out = protector === undefined ? connection : await protector.protect(connection, options)
        const report = (seen: HandshakeFailure['seen']) =>
          onFailure({ addr: connection.remoteAddr.toString(), seen })
        return { ...out, source: checkHeader(out.source, report, protector !== undefined) }
      },
    }
  }
}

type Source = MultiaddrConnection['source']

async function* checkHeader(
  source: Source,
  report: (seen: HandshakeFailure['seen']) => void,
  keyed: boolean,
): Source {
  let seen = 0
  let settled = false
  try {
    for await (const chunk of source) {
      if (!settled) {
        const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
        for (let i = 0; i < bytes.length && seen < HEADER.length; i++, seen++) {
          if (bytes[i] !== HEADER[seen]) {
            settled = true
            report('garbled')
            throw new ClusterKeyMismatchError('the peer does not hold this cluster key')
          }
        }
        settled = seen === HEADER.length
      }
      yield chunk
    }
  } finally {
    if (!settled && seen === 0 && keyed) report('closed')
  }
}

/** How often one remote host's failed handshakes are logged, ms: a redial loop fails every second. */
const REPORT_EVERY_MS = 60_000

/**
 * Logs failed handshakes at warn, one line per remote host a minute: an operator who gave a node
 * the wrong key (or none) sees why it stays alone, on both sides of the connection.
 */
export function handshakeReporter(
  logger: { warn(fields: object, msg: string): void },
  keyed: boolean,
  now: () => number = Date.now,
): (failure: HandshakeFailure) => void {
  const last = new Map<string, number>()
  return (failure) => {
    const host = failure.addr.split('/').slice(0, 3).join('/')
    const at = now()
    if (at - (last.get(host) ?? Number.NEGATIVE_INFINITY) < REPORT_EVERY_MS) return
    if (last.size > 1000) last.clear()
    last.set(host, at)
    logger.warn(
      { addr: failure.addr, seen: failure.seen, clusterKey: keyed ? 'set' : 'none' },
      'handshake failed: a different cluster key (or none on one side) is the likely cause',
    )
  }
}
