import { open } from 'node:fs/promises'
import type { Command } from 'commander'
import { UserError } from '../../errors.js'
import type { SecretRow } from '../../secrets/keeper.js'
import { client, clientCommand, print } from '../options.js'
import { renderTable } from '../table.js'
import type { CommandEntry } from './index.js'

/** Matches the protocol's MAX_SECRET_BYTES (the CLI does not load the protocol). */
const MAX_SECRET_BYTES = 64 * 1024

/** `gary secret create NAME -f FILE|-`, `gary secret ls`, `gary secret rm NAME`. */
export function add(program: Command, entry: CommandEntry): Command {
  const secret = program.command(entry.name).description(entry.description)
  clientCommand(secret, {
    name: 'create',
    description:
      'create or change a secret (sealed under the cluster key); the workloads that read it roll to the new value',
  })
    .argument('<name>', "the secret's name: letters, digits, '.', '_' and '-'")
    .requiredOption('-f, --file <file>', 'the file that holds the value, or - for standard input')
    .action(async (name: string, options) => {
      const value = await readValue(options.file as string)
      const answer = await client(options).request<{ name: string; outcome: string; rolled: string[] }>(
        'POST',
        '/v1/secrets',
        { name, value: value.toString('base64') },
      )
      print(options, answer, () =>
        [
          `${answer.name} ${answer.outcome}`,
          ...(answer.rolled.length > 0 ? [`rolling: ${answer.rolled.join(', ')}`] : []),
        ].join('\n'),
      )
    })
  clientCommand(secret, {
    name: 'ls',
    description: 'list the secrets and registry logins (never their values)',
  }).action(async (options) => {
    const rows = await client(options).get<SecretRow[]>('/v1/secrets')
    print(options, rows, () =>
      renderTable(
        ['NAME', 'KIND', 'VERSION', 'UPDATED', 'USED BY'],
        rows.map((r) => [r.name, r.kind, r.version, r.updated, r.usedBy.join(',') || '-']),
      ),
    )
  })
  clientCommand(secret, { name: 'rm', description: 'remove a secret no workload reads' })
    .argument('<name>', "the secret's name")
    .action(async (name: string, options) => {
      const answer = await client(options).request<{ name: string; outcome: string }>(
        'DELETE',
        `/v1/secrets/${encodeURIComponent(name)}`,
      )
      print(options, answer, () => `${answer.name} ${answer.outcome}`)
      if (answer.outcome === 'not found') process.exitCode = 1
    })
  return secret
}

/** The value in a file, or on standard input for `-`; at most MAX_SECRET_BYTES. */
export async function readValue(file: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  const handle =
    file === '-'
      ? undefined
      : await open(file).catch((err: Error) => {
          throw new UserError(`cannot read ${file}: ${err.message}`)
        })
  const stream = handle?.createReadStream() ?? process.stdin
  try {
    for await (const chunk of stream) {
      size += (chunk as Buffer).length
      if (size > MAX_SECRET_BYTES)
        throw new UserError(
          `a secret holds at most ${MAX_SECRET_BYTES} bytes; ${file === '-' ? 'standard input' : file} has more`,
        )
      chunks.push(chunk as Buffer)
    }
  } finally {
    await handle?.close()
  }
  return Buffer.concat(chunks)
}
