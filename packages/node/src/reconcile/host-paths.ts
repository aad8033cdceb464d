import { realpath } from 'node:fs/promises'
import { hostPathAllowed } from '@gary/protocol'

/** Why a bind mount's source may not be mounted on this node, in one sentence. */
export class HostPathRefusedError extends Error {
  override readonly name = 'HostPathRefusedError'
}

/**
 * The node's own judgement of a bind mount's source, at each container create: the rules already
 * kept the workload off nodes whose published prefixes do not hold the source's text, but only
 * the node can resolve symbolic links, which may lead anywhere (`/srv/x/link -> /etc`).
 */
export class HostPathGuard {
  constructor(
    /** The node's `--allow-host-path` prefixes, normalised. */
    private readonly prefixes: readonly string[],
    /** How the node is named in reasons. */
    private readonly node: string,
    private readonly resolve: (path: string) => Promise<string> = realpath,
  ) {}

  /** The source's real path when this node allows it; throws HostPathRefusedError when not. */
  async check(source: string): Promise<string> {
    const refused = (why: string) => new HostPathRefusedError(`host path ${source} ${why} on ${this.node}`)
    if (!hostPathAllowed(source, this.prefixes)) throw refused('not allowed')
    const real = await this.resolve(source).catch(() => undefined)
    if (real === undefined) throw refused('does not exist')
    // A prefix may itself be a link: compare real paths with real paths.
    const realPrefixes = await Promise.all(
      this.prefixes.map((prefix) => this.resolve(prefix).catch(() => undefined)),
    )
    if (
      !hostPathAllowed(
        real,
        realPrefixes.filter((p): p is string => p !== undefined),
      )
    )
      throw refused(`leads to ${real}, which is not allowed`)
    return real
  }
}
