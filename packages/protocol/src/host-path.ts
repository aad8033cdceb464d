import { posix } from 'node:path'
import { quote } from './quote.js'

/** Longest path a bind mount's source or a mount's target may have, characters (Linux's PATH_MAX). */
export const MAX_PATH_CHARS = 4096

/**
 * A path of the node's or the container's file system as Gary compares it: absolute, with `.`,
 * `..`, repeated and trailing slashes resolved by the text alone (`/srv/x/../../etc` is `/etc`).
 * A problem, in words, when it is not an absolute path. Symbolic links are the node's business:
 * it resolves them (`realpath`) before it mounts anything.
 */
export function normalisePath(path: unknown): { ok: true; path: string } | { ok: false; problem: string } {
  if (typeof path !== 'string' || path === '') return { ok: false, problem: 'must be a path' }
  if (path.length > MAX_PATH_CHARS)
    return { ok: false, problem: `is longer than ${MAX_PATH_CHARS} characters` }
  if (path.includes('\0')) return { ok: false, problem: 'must not contain a NUL character' }
  if (!path.startsWith('/'))
    return { ok: false, problem: `${quote(path)} is not an absolute path (start it with /)` }
  // `resolve` from the root never climbs above it: `/..` is `/`.
  return { ok: true, path: posix.resolve('/', path) }
}

/**
 * Whether a normalised absolute path lies under one of the allowed prefixes (each normalised):
 * the prefix itself or below it, at a `/` boundary (`/srv` allows `/srv/x`, not `/srvx`).
 */
export function hostPathAllowed(path: string, prefixes: readonly string[]): boolean {
  return prefixes.some((prefix) => prefix === '/' || path === prefix || path.startsWith(`${prefix}/`))
}

/**
 * The prefixes a node allows (`--allow-host-path`), normalised, without duplicates and without
 * those another one covers, sorted: the form a node publishes. Throws on a prefix that is not an
 * absolute path (the node's own settings: a startup error).
 */
export function normaliseHostPathPrefixes(prefixes: readonly string[]): string[] {
  const normal = prefixes.map((prefix) => {
    const result = normalisePath(prefix)
    if (!result.ok) throw new RangeError(`--allow-host-path ${result.problem}`)
    return result.path
  })
  const unique = [...new Set(normal)].sort()
  return unique.filter(
    (prefix) => !unique.some((other) => other !== prefix && hostPathAllowed(prefix, [other])),
  )
}
