import { readFileSync, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import type { ComposeNote } from '@gary/protocol'
import { InvalidSpecError } from '../errors.js'
import { readSpecFiles } from './spec-files.js'

/** A note of a Compose file, with the file it came from. */
export interface FileNote extends ComposeNote {
  file: string
}

/**
 * The specs of every file `-f` named, in the form a user writes them: Gary spec files as they
 * are, Compose files converted. Every problem of every file is one error; nothing is returned
 * (or sent) unless all files are good.
 */
export async function loadSpecs(paths: string[]): Promise<{ specs: unknown[]; ignored: FileNote[] }> {
  // The protocol (zod, yaml) loads only for the commands that read specs.
  const { readApplyFile } = await import('@gary/protocol')
  const files = await readSpecFiles(paths)
  const specs: unknown[] = []
  const ignored: FileNote[] = []
  const problems: string[] = []
  const firstFile = new Map<string, string>()
  for (const file of files) {
    const result = readApplyFile(file.text, {
      environment: process.env,
      readEnvFile: (path) => readEnvFile(isAbsolute(path) ? path : join(file.dir, path)),
    })
    if (!result.ok) {
      problems.push(...result.problems.map((problem) => `${file.name}: ${problem}`))
      continue
    }
    for (const spec of result.specs) {
      const name = (spec as { name?: unknown }).name
      if (typeof name === 'string') {
        const first = firstFile.get(name)
        if (first !== undefined && first !== file.name)
          problems.push(`${file.name}: workload ${name} is also declared in ${first}`)
        firstFile.set(name, file.name)
      }
      specs.push(spec)
    }
    ignored.push(...result.notes.map((note) => ({ ...note, file: file.name })))
  }
  if (problems.length > 0) throw new InvalidSpecError(problems)
  return { specs, ignored }
}

/** Tells the user what of their Compose files Gary ignored, on stderr (as JSON lines with `json`). */
export function reportIgnored(notes: FileNote[], json: boolean): void {
  for (const note of notes) {
    if (json) {
      process.stderr.write(`${JSON.stringify(note)}\n`)
      continue
    }
    const where = `${note.file}: ${note.service === undefined ? '' : `service ${note.service}: `}`
    process.stderr.write(
      note.kind === 'ignored' ? `${where}ignored ${note.key}: ${note.reason}\n` : `${where}${note.reason}\n`,
    )
  }
}

/** Largest env file read: a Compose file may name anything, /dev/zero included. */
const MAX_ENV_FILE_BYTES = 1024 * 1024

/** An env file's text; undefined when it is missing, not a plain file, or too large to be one. */
function readEnvFile(path: string): string | undefined {
  try {
    const info = statSync(path)
    if (!info.isFile() || info.size > MAX_ENV_FILE_BYTES) return undefined
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}
