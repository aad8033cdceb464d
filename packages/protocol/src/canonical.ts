/**
 * JSON with object keys sorted (by UTF-16 code unit) and no whitespace, so equal data gives equal
 * text whatever order its keys were written in: the input to hashes and digests that nodes
 * compare. Follows `JSON.stringify` otherwise: `undefined`, functions and symbols are left out of
 * objects and become `null` in arrays (and at the top level), non-finite numbers become `null`,
 * `toJSON` is honoured, and a bigint throws. Plain acyclic data only.
 */
export function canonicalJson(value: unknown): string {
  return write(value) ?? 'null'
}

function write(value: unknown): string | undefined {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      throw new TypeError('canonicalJson cannot encode a bigint')
    case 'object':
      break
    default:
      return undefined
  }
  const object = value as Record<string, unknown> & { toJSON?: unknown }
  if (typeof object.toJSON === 'function') return write((object.toJSON as () => unknown)())
  if (Array.isArray(object)) return `[${object.map((item) => write(item) ?? 'null').join(',')}]`
  const parts: string[] = []
  for (const key of Object.keys(object).sort()) {
    const written = write(object[key])
    if (written !== undefined) parts.push(`${JSON.stringify(key)}:${written}`)
  }
  return `{${parts.join(',')}}`
}
