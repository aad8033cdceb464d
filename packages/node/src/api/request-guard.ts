import { isIP } from 'node:net'

export interface GuardInit {
  /** The host part of the API's address, as configured. */
  apiHost: string
  /** Set when the API demands a token: then any Host is accepted, the token proves the caller. */
  token?: string
}

export interface Refusal {
  status: number
  message: string
}

interface RequestHead {
  method?: string
  headers: Record<string, string | string[] | undefined>
}

/**
 * Why the API refuses a request before reading it, or undefined. The API's only page is its own
 * live page, so no other page has a reason to call it; what a web page can make a browser send is
 * refused:
 * - a cross-origin request (`Origin` of another origin, `Sec-Fetch-Site` other than
 *   same-origin or none): a page's simple POST reaches a loopback port without any preflight;
 * - without a token, a `Host` that is a name other than localhost or the API's own host: a page
 *   whose name resolves to 127.0.0.1 (DNS rebinding) is same-origin with the API, and could read
 *   the answers, environment variables included;
 * - a POST whose body is not declared JSON: a simple request can only send text/plain, form
 *   data or URL-encoded forms, and anything else makes a browser ask first (a preflight the API
 *   does not answer).
 */
export function refusal(request: RequestHead, init: GuardInit): Refusal | undefined {
  const host = header(request, 'host')
  if (init.token === undefined && host !== undefined && !allowedHost(host, init.apiHost)) {
    return {
      status: 403,
      message: `Host ${JSON.stringify(host.slice(0, 100))} is not this API's: use an IP address or localhost`,
    }
  }
  const origin = header(request, 'origin')
  if (
    origin !== undefined &&
    (host === undefined || origin.toLowerCase() !== `http://${host.toLowerCase()}`)
  ) {
    return { status: 403, message: 'cross-origin requests are refused: the API answers only its own page' }
  }
  const site = header(request, 'sec-fetch-site')
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return { status: 403, message: 'cross-site requests are refused: the API answers only its own page' }
  }
  if (request.method === 'POST') {
    const type = header(request, 'content-type')?.split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json')
      return { status: 415, message: 'a POST body must be JSON, sent as Content-Type: application/json' }
  }
  return undefined
}

/** The Host header's name part: IP literals, localhost and the configured host are the API's own. */
function allowedHost(host: string, apiHost: string): boolean {
  const name = (
    host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '')
  ).toLowerCase()
  return isIP(name) !== 0 || name === 'localhost' || name === apiHost.toLowerCase()
}

function header(request: RequestHead, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value.join(',') : value
}
