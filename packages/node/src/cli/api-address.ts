import { UserError } from '../errors.js'

/** The port `gary daemon` serves its API on unless told otherwise. */
export const DEFAULT_API_PORT = 7947

/**
 * The `host:port` a client command talks to, from what a user may type: `127.0.0.1:7947`,
 * `http://127.0.0.1:7947/`, `localhost` (the default port), `[::1]:7947`. Anything else is
 * explained in one sentence.
 */
export function parseApiAddress(text: string): string {
  const trimmed = text.trim()
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed)?.[1]?.toLowerCase()
  if (scheme !== undefined && scheme !== 'http') {
    throw new UserError(
      `the API address ${JSON.stringify(text)}: the daemon's API speaks plain http, not ${scheme} (like 127.0.0.1:${DEFAULT_API_PORT})`,
    )
  }
  const rest = scheme === undefined ? trimmed : trimmed.slice('http://'.length).replace(/\/+$/, '')
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(rest)
  const port = match?.[2] === undefined ? DEFAULT_API_PORT : Number(match[2])
  if (match === null || port < 1 || port > 65535) {
    throw new UserError(
      `${JSON.stringify(text)} is not an API address: give host:port, like 127.0.0.1:${DEFAULT_API_PORT}`,
    )
  }
  return `${match[1]}:${port}`
}
