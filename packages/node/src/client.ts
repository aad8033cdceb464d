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

  async get<T>(path: string): Promise<T> {
    const url = `http://${this.init.api}${path}`
    let response: Response
    try {
      response = await fetch(url, {
        headers: this.init.token === undefined ? {} : { authorization: `Bearer ${this.init.token}` },
        signal: AbortSignal.timeout(this.init.timeoutMs ?? 5000),
      })
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name
      throw new DaemonUnreachableError(
        `no Gary daemon answers at ${this.init.api} (${cause}): start one with \`gary daemon\`, or point --api / GARY_API at one`,
      )
    }
    const body = (await response.json().catch(() => ({}))) as { error?: string }
    if (!response.ok)
      throw new ApiError(`daemon at ${this.init.api}: ${body.error ?? response.statusText}`, response.status)
    return body as T
  }
}
