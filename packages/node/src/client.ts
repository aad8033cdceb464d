import { ApiError, DaemonUnreachableError } from './errors.js'

export interface ClientInit {
  /** `host:port` of the daemon's API. */
  api: string
  token?: string
  timeoutMs?: number
}

/** The CLI's side of the local API. */
export class ApiClient {
  constructor(private readonly init: ClientInit) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path)
  }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const url = `http://${this.init.api}${path}`
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
    if (this.init.token !== undefined) headers.authorization = `Bearer ${this.init.token}`
    let response: Response
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.init.timeoutMs ?? 5000),
      })
    } catch (err) {
      // fetch throws a bare TypeError; the reason (ECONNREFUSED, bad port...) is in its cause.
      const { cause } = err as { cause?: { code?: string; message?: string } }
      const reason = cause?.code ?? cause?.message ?? (err as Error).name
      throw new DaemonUnreachableError(
        `no Gary daemon answers at ${this.init.api} (${reason}): start one with \`gary daemon\`, or point --api / GARY_API at one`,
      )
    }
    const answer = (await response.json().catch(() => ({}))) as { error?: string; details?: unknown }
    if (!response.ok) {
      const details = Array.isArray(answer.details) ? `\n  ${answer.details.join('\n  ')}` : ''
      throw new ApiError(`${answer.error ?? response.statusText}${details}`, response.status)
    }
    return answer as T
  }
}
