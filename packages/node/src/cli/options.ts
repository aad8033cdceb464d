import type { Command } from 'commander'
import { readApiToken } from '../config/api-token.js'
import { UserError } from '../errors.js'
import { parseApiAddress } from './api-address.js'
import { ApiClient } from './client.js'

/** Adds a command that talks to a daemon's API, with the options every such command takes. */
export function clientCommand(program: Command, entry: { name: string; description: string }): Command {
  return program
    .command(entry.name)
    .description(entry.description)
    .option('--api <host:port>', 'daemon API address (env GARY_API, default 127.0.0.1:7947)')
    .option('--api-token <token>', 'API token (env GARY_API_TOKEN)')
    .option('--api-token-file <file>', 'file whose first line is the API token (env GARY_API_TOKEN_FILE)')
    .option('--json', 'print JSON')
}

export function client(options: Record<string, unknown>): ApiClient {
  const apiToken = (options.apiToken as string | undefined) ?? (process.env.GARY_API_TOKEN || undefined)
  const apiTokenFile =
    (options.apiTokenFile as string | undefined) ?? (process.env.GARY_API_TOKEN_FILE || undefined)
  return new ApiClient({
    api: parseApiAddress((options.api as string | undefined) ?? (process.env.GARY_API || '127.0.0.1:7947')),
    token: apiToken ?? readApiToken({ apiTokenFile }),
  })
}

/** Prints `value` as JSON under `--json`, or as `text()` for a person. */
export function print(options: Record<string, unknown>, value: unknown, text: () => string): void {
  process.stdout.write(`${options.json === true ? JSON.stringify(value, null, 2) : text()}\n`)
}

export function wholeNumber(flag: string, value: string): string {
  if (!/^\d{1,9}$/.test(value))
    throw new UserError(`${flag} takes a whole number, not ${JSON.stringify(value)}`)
  return String(Number(value))
}

/** Collects a repeatable option's values. */
export const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value]
