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
