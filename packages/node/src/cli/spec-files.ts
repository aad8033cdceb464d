import { readdir, readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { UserError } from '../errors.js'

/** Largest file `gary apply` reads (the daemon's own limit for a spec file: 1 MiB). */
const MAX_FILE_BYTES = 1024 * 1024
const SPEC_FILE = /\.(ya?ml|json)$/i

/** A file given to `gary apply -f`, read. */
export interface SpecFile {
  /** As the user named it (`-` reads stdin, named `stdin`). */
  name: string
  /** The folder relative paths in the file start from (a Compose file's `env_file`). */
  dir: string
  text: string
}

/**
 * Reads what `-f` named, in order: files, every `.yaml`, `.yml` and `.json` file of a directory
 * (sorted by name, not recursive), and `-` for standard input. Nothing is sent until all are read.
 */
export async function readSpecFiles(
  paths: string[],
  stdin: () => Promise<string> = readStdin,
): Promise<SpecFile[]> {
  const files: SpecFile[] = []
  for (const path of paths) {
    if (path === '-') {
      files.push({ name: 'stdin', dir: process.cwd(), text: await stdin() })
      continue
    }
    const info = await stat(path).catch((err: Error) => {
      throw new UserError(`cannot read ${path}: ${err.message}`)
    })
    if (info.isDirectory()) {
      const names = (await readdir(path)).filter((name) => SPEC_FILE.test(name)).sort()
      if (names.length === 0) throw new UserError(`${path} is a directory with no .yaml, .yml or .json file`)
      for (const name of names) files.push(await readOne(join(path, name)))
    } else {
      files.push(await readOne(path))
    }
  }
  return files
}

async function readOne(path: string): Promise<SpecFile> {
  const info = await stat(path).catch((err: Error) => {
    throw new UserError(`cannot read ${path}: ${err.message}`)
  })
  if (!info.isFile()) throw new UserError(`${path} is not a file`)
  if (info.size > MAX_FILE_BYTES) {
    throw new UserError(
      `${path} is ${info.size} bytes, over the ${MAX_FILE_BYTES} byte limit for a spec file: nothing applied`,
    )
  }
  return { name: path, dir: dirname(path), text: await readFile(path, 'utf8') }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY === true)
    throw new UserError('-f - reads a spec from standard input, but it is a terminal')
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    if (size > MAX_FILE_BYTES)
      throw new UserError(
        `standard input is over the ${MAX_FILE_BYTES} byte limit for a spec file: nothing applied`,
      )
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}
