import { readFile, stat } from 'node:fs/promises'
import { MAX_SPEC_FILE_BYTES } from '@gary/protocol'
import type { Command } from 'commander'
import { UserError } from '../../errors.js'
import { client, clientCommand, print } from '../options.js'

/** `gary apply -f FILE`: declares a file's workloads on the whole cluster. */
export function applyCommand(program: Command): Command {
  return clientCommand(program, 'apply', 'declare the workloads of a YAML or JSON file, on the whole cluster')
    .requiredOption('-f, --file <file>', 'workload spec file (YAML or JSON, one or more documents)')
    .action(async (options) => {
      const text = await readSpecFile(options.file as string)
      const results = await client(options).request<{ name: string; outcome: string }[]>(
        'POST',
        '/v1/apply',
        { text },
      )
      print(options, results, () => results.map((r) => `${r.name}: ${r.outcome}`).join('\n'))
    })
}

/** Reads a spec file, refusing one too large to be a spec before sending anything. */
async function readSpecFile(path: string): Promise<string> {
  let size: number
  try {
    size = (await stat(path)).size
  } catch (err) {
    throw new UserError(`cannot read ${path}: ${(err as Error).message}`)
  }
  if (size > MAX_SPEC_FILE_BYTES) {
    throw new UserError(
      `${path} is ${size} bytes, over the ${MAX_SPEC_FILE_BYTES} byte limit for a spec file: nothing applied`,
    )
  }
  return readFile(path, 'utf8')
}
