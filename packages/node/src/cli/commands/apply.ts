import type { Command } from 'commander'
import { UserError } from '../../errors.js'
import { followRollouts, parseTimeout, waitOptions } from '../follow-rollout.js'
import { loadSpecs, reportIgnored } from '../load-specs.js'
import { client, clientCommand, collect, print } from '../options.js'
import type { CommandEntry } from './index.js'

/** What the daemon reads of one apply: the protocol's limit for a spec file (1 MiB). */
const MAX_APPLY_BYTES = 1024 * 1024

/** `gary apply -f FILE...`: declares the workloads of spec or Compose files on the whole cluster. */
export function add(program: Command, entry: CommandEntry): Command {
  return waitOptions(clientCommand(program, entry))
    .requiredOption(
      '-f, --file <file>',
      'a spec or Compose file, a directory of them, or - for stdin; repeatable',
      collect,
    )
    .action(async (options) => {
      const { specs, ignored } = await loadSpecs(options.file as string[])
      reportIgnored(ignored, options.json === true)
      // All files go in one request: the daemon applies all of them or, on a problem, none.
      const text = JSON.stringify(specs)
      const bytes = Buffer.byteLength(text)
      if (bytes > MAX_APPLY_BYTES) {
        throw new UserError(
          `the files declare ${bytes} bytes of specs, over the ${MAX_APPLY_BYTES} bytes one apply takes: nothing applied (apply them in parts)`,
        )
      }
      const timeoutMs = options.wait === true ? parseTimeout(options.timeout) : 0
      const api = client(options)
      const results = await api.request<{ name: string; outcome: string; revision: number }[]>(
        'POST',
        '/v1/apply',
        { text },
        // A large file takes the daemon a while to check, and a busy daemon asks to come back.
        { timeoutMs: 60_000 },
      )
      print(options, results, () => results.map((r) => `${r.name}: ${r.outcome}`).join('\n'))
      if (options.wait !== true) return
      const { ok } = await followRollouts(api, results, { timeoutMs, json: options.json === true })
      if (!ok) process.exitCode = 1
    })
}
