import { LineCounter, parseAllDocuments } from 'yaml'
import {
  duplicateKeys,
  MAX_SPEC_DEPTH,
  MAX_SPEC_FILE_BYTES,
  MAX_WORKLOADS_PER_FILE,
  parseWorkloadFile,
} from '../spec.js'
import { scanYaml } from '../yaml-scan.js'
import {
  type ComposeNote,
  type ComposeOptions,
  convertCompose,
  isComposeFile,
  type SpecInput,
} from './convert.js'

export type ApplyFileResult =
  | { ok: true; kind: 'gary' | 'compose'; specs: unknown[]; notes: ComposeNote[] }
  | { ok: false; problems: string[] }

/**
 * What one file given to `gary apply` declares: Gary specs (one or more documents, or a list),
 * or a Compose file converted to them. The specs come back in the form a user writes, each
 * checked as the daemon will check it; or every problem of the file does, and nothing else.
 */
export function readApplyFile(text: string, options: ComposeOptions): ApplyFileResult {
  // Refused before the parser sees the text, with parseWorkloadFile's sentence: the parser
  // recurses once per level of nesting (see scanYaml).
  const scan = scanYaml(text, { maxDepth: MAX_SPEC_DEPTH, maxDocuments: MAX_WORKLOADS_PER_FILE })
  if (
    Buffer.byteLength(text, 'utf8') > MAX_SPEC_FILE_BYTES ||
    scan.tooDeepAt !== undefined ||
    scan.documents > MAX_WORKLOADS_PER_FILE
  )
    return parseWorkloadFile(text) as ApplyFileResult
  // Compose files share blocks through anchors and merge keys (`<<: *defaults`). Duplicate keys
  // are found in one pass: yaml's own check compares every pair of keys.
  const lineCounter = new LineCounter()
  const documents = parseAllDocuments(text, { merge: true, uniqueKeys: false, lineCounter })
  if (documents.every((document) => document.errors.length === 0)) {
    const duplicates = duplicateKeys(documents, lineCounter)
    if (duplicates.length > 0) return { ok: false, problems: duplicates }
  }
  const values = documents.flatMap((document) => {
    if (document.errors.length > 0) return []
    try {
      const value = document.toJS({ maxAliasCount: 100 })
      return value === null || value === undefined ? [] : [value as unknown]
    } catch {
      return []
    }
  })
  if (values.length === 1 && isComposeFile(values[0])) {
    const converted = convertCompose(values[0], options)
    if (!converted.ok) return converted
    const checked = checkSpecs(converted.specs)
    return checked.length > 0
      ? { ok: false, problems: checked }
      : { ok: true, kind: 'compose', specs: converted.specs, notes: converted.notes }
  }
  const parsed = parseWorkloadFile(text)
  if (!parsed.ok) return parsed
  return {
    ok: true,
    kind: 'gary',
    specs: values.flatMap((value) => (Array.isArray(value) ? value : [value])),
    notes: [],
  }
}

/** Checks converted specs as the daemon will, with each problem at its service. */
function checkSpecs(specs: SpecInput[]): string[] {
  const result = parseWorkloadFile(JSON.stringify(specs))
  if (result.ok) return []
  return result.problems.map((problem) =>
    problem.replace(
      /^spec(?:\[(\d+)\])?/,
      (_, index: string | undefined) => `services.${specs[Number(index ?? 0)]?.name}`,
    ),
  )
}
