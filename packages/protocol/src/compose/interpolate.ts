/**
 * Compose's variable interpolation in every string of a parsed file: `$VAR`, `${VAR}`,
 * `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` and
 * `${VAR?message}` (an error), `${VAR:+other}` and `${VAR+other}`, and `$$` for a dollar sign.
 */
export interface Interpolated {
  value: unknown
  /** Variables used without a value or default: they read as empty strings. */
  unset: string[]
  /** `${VAR:?message}` whose variable is missing, as sentences. */
  errors: string[]
}

const REFERENCE = /\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g
const BRACED = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$/s

export function interpolate(
  value: unknown,
  environment: Readonly<Record<string, string | undefined>>,
): Interpolated {
  const unset = new Set<string>()
  const errors: string[] = []
  const one = (text: string, at: string): string =>
    text.replace(
      REFERENCE,
      (whole, dollar: string | undefined, braced: string | undefined, bare: string | undefined) => {
        if (dollar !== undefined) return '$'
        if (bare !== undefined) return lookup(bare)
        const match = BRACED.exec(braced ?? '')
        if (match === null) {
          errors.push(`${at}: ${whole} is not a variable reference`)
          return ''
        }
        const [, name, operator, operand = ''] = match as unknown as [
          string,
          string,
          string | undefined,
          string?,
        ]
        const raw = environment[name]
        const emptyCounts = operator?.startsWith(':') === true
        const missing = raw === undefined || (emptyCounts && raw === '')
        switch (operator?.replace(':', '')) {
          case undefined:
            return lookup(name)
          case '-':
            return missing ? one(operand, at) : (raw ?? '')
          case '?':
            if (missing) errors.push(`${at}: ${name} is required${operand === '' ? '' : `: ${operand}`}`)
            return raw ?? ''
          default:
            return missing ? '' : one(operand, at)
        }
      },
    )
  const lookup = (name: string): string => {
    const raw = environment[name]
    if (raw === undefined) unset.add(name)
    return raw ?? ''
  }
  const walk = (node: unknown, at: string): unknown => {
    if (typeof node === 'string') return one(node, at)
    if (Array.isArray(node)) return node.map((item, index) => walk(item, `${at}[${index}]`))
    if (typeof node === 'object' && node !== null) {
      return Object.fromEntries(
        Object.entries(node).map(([key, item]) => [key, walk(item, at === '' ? key : `${at}.${key}`)]),
      )
    }
    return node
  }
  const result = walk(value, '')
  return { value: result, unset: [...unset].sort(), errors }
}
