import { ApiError, DaemonUnreachableError } from '../errors.js'

export interface ClientInit {
  /** `host:port` of the daemon's API. */
  api: string
  token?: string
  timeoutMs?: number
}

/** How long a stream may take to be accepted: the daemon may first have to reach another node. */
const STREAM_ACCEPT_TIMEOUT_MS = 15_000

/** The CLI's side of the local API. */
export class ApiClient {
  constructor(private readonly init: ClientInit) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path)
  }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const response = await this.#fetch(method, path, body, AbortSignal.timeout(this.init.timeoutMs ?? 5000))
    const answer = (await response.json().catch(() => ({}))) as { error?: string; details?: unknown }
    if (!response.ok) throw failure(response, answer)
    return answer as T
  }

  /**
   * Reads an NDJSON answer item by item for as long as the daemon sends, until `signal` aborts
   * (then it ends without an error). Only the wait for the daemon to accept is timed.
   */
  async *stream<T>(path: string, signal?: AbortSignal): AsyncGenerator<T> {
    const accept = new AbortController()
    const timer = setTimeout(
      () => accept.abort(new DOMException('no answer in time', 'TimeoutError')),
      STREAM_ACCEPT_TIMEOUT_MS,
    )
    let response: Response
    try {
      const fetchSignal = signal === undefined ? accept.signal : AbortSignal.any([accept.signal, signal])
      response = await this.#fetch('GET', path, undefined, fetchSignal)
    } catch (err) {
      if (signal?.aborted === true) return
      throw err
    } finally {
      // Once accepted, the body may flow for as long as it likes.
      clearTimeout(timer)
    }
    if (!response.ok) {
      throw failure(
        response,
        (await response.json().catch(() => ({}))) as { error?: string; details?: unknown },
      )
    }
    if (response.body === null) return
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true })
        const lines = buffer.split('\n')
        buffer = lines.pop() ?? ''
        for (const line of lines) if (line.trim() !== '') yield JSON.parse(line) as T
      }
    } catch (err) {
      if (signal?.aborted === true) return
      throw new DaemonUnreachableError(
        `the daemon at ${this.init.api} broke off the stream: ${(err as Error).message}`,
      )
    } finally {
      await response.body.cancel().catch(() => {})
    }
    if (buffer.trim() !== '') yield JSON.parse(buffer) as T
  }

  async #fetch(method: string, path: string, body: unknown, signal: AbortSignal): Promise<Response> {
    const url = `http://${this.init.api}${path}`
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
    if (this.init.token !== undefined) headers.authorization = `Bearer ${this.init.token}`
    try {
      return await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal,
      })
    } catch (err) {
      // fetch throws a bare TypeError; the reason (ECONNREFUSED, bad port...) is in its cause.
      const { cause } = err as { cause?: { code?: string; message?: string } }
      const reason = cause?.code ?? cause?.message ?? (err as Error).name
      throw new DaemonUnreachableError(
        `no Gary daemon answers at ${this.init.api} (${reason}): start one with \`gary daemon\`, or point --api / GARY_API at one`,
      )
    }
  }
}

function failure(response: Response, answer: { error?: string; details?: unknown }): ApiError {
  const details = Array.isArray(answer.details) ? `\n  ${answer.details.join('\n  ')}` : ''
  return new ApiError(`${answer.error ?? response.statusText}${details}`, response.status)
}
