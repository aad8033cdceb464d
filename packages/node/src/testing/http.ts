import { type IncomingHttpHeaders, request } from 'node:http'
import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

export interface RawRequest {
  method: string
  path: string
  /** Sent as given: a `host` header here replaces the one naming the API. */
  headers?: Record<string, string>
  body?: string | Uint8Array
  /** Give up after this long, ms. Default 10000. */
  timeoutMs?: number
  /** Resolve as soon as the status line and headers arrive (for streams that never end). */
  headersOnly?: boolean
}

/**
 * One HTTP request to a daemon's API with exactly the headers given, which `fetch` does not
 * allow (it sets Host and Origin itself): what a browser or a hostile local process can send.
 */
export function rawRequest(api: string, req: RawRequest): Promise<RawResponse> {
  const [host, port] = splitHostPort(api)
  const headers = { host: api, ...req.headers }
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host,
        port,
        method: req.method,
        path: req.path,
        headers,
        setHost: false,
        timeout: req.timeoutMs ?? 10_000,
      },
      (response) => {
        const base = { status: response.statusCode ?? 0, headers: response.headers }
        if (req.headersOnly === true) {
          resolve({ ...base, body: '' })
          response.destroy()
          return
        }
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({ ...base, body: Buffer.concat(chunks).toString('utf8') }))
        response.on('error', reject)
      },
    )
    outgoing.on('timeout', () =>
      outgoing.destroy(new Error(`no answer to ${req.method} ${req.path} in time`)),
    )
    outgoing.on('error', reject)
    outgoing.end(req.body)
  })
}

/**
 * Writes bytes to the API's port as they are (not necessarily HTTP) and returns the status of
 * the answer, or 0 if the daemon closed the connection without one.
 */
export function rawExchange(api: string, bytes: Uint8Array, timeoutMs = 10_000): Promise<number> {
  const [host, port] = splitHostPort(api)
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    let text = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error('no answer in time'))
    }, timeoutMs)
    const settle = () => {
      clearTimeout(timer)
      socket.destroy()
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve(match === null ? 0 : Number(match[1]))
    }
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1')
      if (text.includes('\r\n')) settle()
    })
    socket.on('end', settle)
    socket.on('close', settle)
    socket.on('error', () => settle())
    socket.end(bytes)
  })
}

function splitHostPort(api: string): [string, number] {
  const at = api.lastIndexOf(':')
  return [api.slice(0, at).replace(/^\[|\]$/g, ''), Number(api.slice(at + 1))]
}
