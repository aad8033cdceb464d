/**
 * The known name a mistyped one most likely meant: a case-insensitive match, a name within two
 * edits (one for short names) of it or of a synonym from other tools' specs. Undefined when none
 * is close.
 */
export function didYouMean(
  typed: string,
  known: readonly string[],
  synonyms: Readonly<Record<string, string>> = {},
): string | undefined {
  const lower = typed.toLowerCase()
  const candidates: [spelling: string, meant: string][] = [
    ...known.map((name): [string, string] => [name.toLowerCase(), name]),
    ...Object.entries(synonyms).filter(([, meant]) => known.includes(meant)),
  ]
  let best: { meant: string; distance: number } | undefined
  for (const [spelling, meant] of candidates) {
    const distance = spelling === lower ? 0 : editDistance(lower, spelling)
    if (best === undefined || distance < best.distance) best = { meant, distance }
  }
  const limit = typed.length <= 4 ? 1 : 2
  return best !== undefined && best.distance <= limit ? best.meant : undefined
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = new Array(rows * cols).fill(0)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost,
      )
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, d[(i - 2) * cols + j - 2]! + 1)
      d[i * cols + j] = value
    }
  }
  return d[rows * cols - 1]!
}
