import { closeSync, openSync, readSync } from 'node:fs'
import { ConfigError } from '../errors.js'

/** A token file larger than this is not a token file. */
const MAX_TOKEN_FILE_BYTES = 4096
const MIN_TOKEN_CHARS = 16

/**
 * The API token: given directly (`GARY_API_TOKEN`, `--api-token`) or read from the first line of
 * a file (`--api-token-file`), which keeps it out of `ps` and shell history.
 */
export function readApiToken(config: { apiToken?: string; apiTokenFile?: string }): string | undefined {
  if (config.apiTokenFile === undefined) return config.apiToken
  const path = config.apiTokenFile
  const buffer = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1)
  let bytes: number
  try {
    // Read once, bounded: a token file is read before anything runs, and never grows.
    const fd = openSync(path, 'r')
    try {
      bytes = readSync(fd, buffer, 0, buffer.length, 0)
    } finally {
      closeSync(fd)
    }
  } catch (err) {
    throw new ConfigError(`cannot read API token file ${path}: ${(err as Error).message}`)
  }
  if (bytes > MAX_TOKEN_FILE_BYTES)
    throw new ConfigError(
      `API token file ${path} is over ${MAX_TOKEN_FILE_BYTES} bytes: it should hold one token`,
    )
  const token = buffer.subarray(0, bytes).toString('utf8').split(/\r?\n/, 1)[0]?.trim() ?? ''
  if (token.length < MIN_TOKEN_CHARS || /\s/.test(token)) {
    throw new ConfigError(
      `API token file ${path} must hold a token of at least ${MIN_TOKEN_CHARS} characters, without spaces, on its first line`,
    )
  }
  return token
}
