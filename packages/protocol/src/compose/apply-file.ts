import { parseAllDocuments } from 'yaml'
import { MAX_SPEC_FILE_BYTES, parseWorkloadFile } from '../spec.js'
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
  if (Buffer.byteLength(text, 'utf8') > MAX_SPEC_FILE_BYTES) return parseWorkloadFile(text) as ApplyFileResult
  // Compose files share blocks through anchors and merge keys (`<<: *defaults`).
  const documents = parseAllDocuments(text, { merge: true, uniqueKeys: true })
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
