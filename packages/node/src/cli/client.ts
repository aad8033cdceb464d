import { request as httpRequest, type IncomingMessage } from 'node:http'
import { ApiError, DaemonUnreachableError } from '../errors.js'

export interface ClientInit {
  /** `host:port` of the daemon's API. */
  api: string
  token?: string
  timeoutMs?: number
}

/** How long a stream may take to be accepted: the daemon may first have to reach another node. */
const STREAM_ACCEPT_TIMEOUT_MS = 15_000
/** Longest wait a busy daemon's Retry-After is honoured for, ms. */
const MAX_RETRY_AFTER_MS = 5000

/**
 * The CLI's side of the local API. Plain `node:http`, not `fetch`: loading fetch (undici and its
 * WebAssembly parser) cost a client command about a fifth of its start-up.
 */
export class ApiClient {
  constructor(private readonly init: ClientInit) {}

  /** Whether the API is asked with a token. */
  get hasToken(): boolean {
    return this.init.token !== undefined
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path)
  }

  /**
   * One request and its JSON answer. A daemon that answers 503 (busy, or still starting) is asked
   * again after its Retry-After (1 s without one), within the same time limit.
   */
  async request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    options: { timeoutMs?: number } = {},
  ): Promise<T> {
    const deadline = Date.now() + (options.timeoutMs ?? this.init.timeoutMs ?? 5000)
    for (;;) {
      const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()))
      const response = await this.#send(method, path, body, signal)
      const text = await readAll(response, signal).catch((err: Error) => {
        throw new DaemonUnreachableError(
          `the daemon at ${this.init.api} broke off its answer: ${err.message}`,
        )
      })
      const answer = parseJson(text) as { error?: string; details?: unknown }
      if (ok(response)) return answer as T
      const retryMs = Math.min(MAX_RETRY_AFTER_MS, 1000 * (Number(response.headers['retry-after']) || 1))
      if (response.statusCode !== 503 || Date.now() + retryMs >= deadline) throw failure(response, answer)
      await new Promise((resolve) => setTimeout(resolve, retryMs * (0.5 + Math.random() / 2)))
    }
  }

  /**
   * Reads an NDJSON answer item by item for as long as the daemon sends, until `signal` aborts
   * (then it ends without an error). Only the wait for the daemon to accept is timed.
   */
  async *stream<T>(path: string, signal?: AbortSignal): AsyncGenerator<T> {
    const accept = AbortSignal.timeout(STREAM_ACCEPT_TIMEOUT_MS)
    const requestSignal = new AbortController()
    const abort = () => requestSignal.abort()
    signal?.addEventListener('abort', abort, { once: true })
    accept.addEventListener('abort', abort, { once: true })
    let response: IncomingMessage
    try {
      response = await this.#send('GET', path, undefined, requestSignal.signal)
    } catch (err) {
      if (signal?.aborted === true) return
      throw err
    } finally {
      // Once accepted, the body may flow for as long as it likes.
      accept.removeEventListener('abort', abort)
    }
    try {
      if (!ok(response)) {
        const answer = parseJson(await readAll(response)) as { error?: string; details?: unknown }
        throw failure(response, answer)
      }
      let buffer = ''
      try {
        for await (const chunk of response.setEncoding('utf8')) {
          buffer += chunk as string
          const lines = buffer.split('\n')
          buffer = lines.pop() ?? ''
          for (const line of lines) if (line.trim() !== '') yield JSON.parse(line) as T
        }
      } catch (err) {
        if (signal?.aborted === true) return
        throw new DaemonUnreachableError(
          `the daemon at ${this.init.api} broke off the stream: ${(err as Error).message}`,
        )
      }
      if (signal?.aborted !== true && buffer.trim() !== '') yield JSON.parse(buffer) as T
    } finally {
      signal?.removeEventListener('abort', abort)
      response.destroy()
    }
  }

  #send(method: string, path: string, body: unknown, signal: AbortSignal): Promise<IncomingMessage> {
    const at = this.init.api.lastIndexOf(':')
    const host = this.init.api.slice(0, at).replace(/^\[|\]$/g, '')
    const port = Number(this.init.api.slice(at + 1))
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> =
      payload === undefined ? {} : { 'content-type': 'application/json' }
    if (this.init.token !== undefined) headers.authorization = `Bearer ${this.init.token}`
    return new Promise((resolve, reject) => {
      const request = httpRequest({ host, port, path, method, headers, signal }, resolve)
      request.once('error', (err: NodeJS.ErrnoException) => {
        const reason =
          signal.aborted && err.name === 'AbortError' ? 'no answer in time' : (err.code ?? err.message)
        reject(
          new DaemonUnreachableError(
            `no Gary daemon answers at ${this.init.api} (${reason}): start one with \`gary daemon\`, or point --api / GARY_API at one`,
          ),
        )
      })
      request.end(payload)
    })
  }
}

function ok(response: IncomingMessage): boolean {
  return (response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300
}

async function readAll(response: IncomingMessage, signal?: AbortSignal): Promise<string> {
  let text = ''
  response.setEncoding('utf8')
  const stop = () => response.destroy(new Error('no answer in time'))
  signal?.addEventListener('abort', stop, { once: true })
  try {
    for await (const chunk of response) text += chunk as string
  } finally {
    signal?.removeEventListener('abort', stop)
  }
  return text
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return {}
  }
}

function failure(response: IncomingMessage, answer: { error?: string; details?: unknown }): ApiError {
  const details = Array.isArray(answer.details) ? answer.details.map(String) : undefined
  const list = details === undefined ? '' : `\n  ${details.join('\n  ')}`
  return new ApiError(
    `${answer.error ?? response.statusMessage ?? `status ${response.statusCode}`}${list}`,
    response.statusCode ?? 0,
    details,
  )
}
