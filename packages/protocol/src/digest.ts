/**
 * A short digest of a set of strings, independent of order: equal sets give equal digests. It
 * detects that two views differ (anti-entropy), and is not a security measure. 32-bit FNV-1a.
 */
export function setDigest(items: Iterable<string>): string {
  const sorted = [...new Set(items)].sort()
  let hash = 0x811c9dc5
  for (const item of sorted) {
    for (let i = 0; i < item.length; i++) {
      hash ^= item.charCodeAt(i)
      hash = Math.imul(hash, 0x01000193) >>> 0
    }
    hash ^= 0x0a
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash.toString(16).padStart(8, '0')
}

/**
 * A set digest that can be kept up to date one item at a time: the sum, modulo 2^32, of the
 * items' 32-bit FNV-1a hashes (`itemHash`), in 8 hex digits. Equal sets give equal digests. The
 * member table keeps its live digest this way: recomputing a sorted digest of every live member
 * whenever one changed status was 9 % of a simulated partition at 600 nodes.
 */
export function sumDigest(items: Iterable<string>): string {
  let sum = 0
  for (const item of new Set(items)) sum = (sum + itemHash(item)) >>> 0
  return hex8(sum)
}

/** One item's share of `sumDigest`. */
export function itemHash(item: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < item.length; i++) {
    hash ^= item.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

export const hex8 = (value: number): string => value.toString(16).padStart(8, '0')
