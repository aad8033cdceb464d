/**
 * An env file as Compose reads it: `KEY=VALUE` a line, `export ` allowed before it, blank lines
 * and `#` comments skipped; a value in single quotes is taken as it is, one in double quotes
 * understands `\n`, `\t`, `\"` and `\\`, and an unquoted one ends before ` #`.
 */
export function parseEnvFile(text: string): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {}
  const problems: string[] = []
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*(.*))?$/s.exec(line)
    if (match === null) {
      problems.push(`line ${index + 1}: ${JSON.stringify(line.slice(0, 40))} is not KEY=VALUE`)
      return
    }
    const [, key, value] = match as unknown as [string, string, string | undefined]
    // A bare KEY takes its value from the environment of whoever deploys: Gary has none to give.
    if (value === undefined) return
    env[key] = unquote(value)
  })
  return { env, problems }
}

function unquote(value: string): string {
  const single = /^'([^']*)'/.exec(value)
  if (single !== null) return single[1]!
  const double = /^"((?:[^"\\]|\\.)*)"/s.exec(value)
  if (double !== null) {
    return double[1]!.replace(/\\(.)/g, (_, c: string) =>
      c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : c,
    )
  }
  return value.replace(/\s+#.*$/, '').trim()
}
