import { createServer, type Server } from 'node:http'
import { afterEach, describe, expect, test } from 'vitest'
import { ApiClient } from '../src/cli/client.js'

let server: Server | undefined

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  server = undefined
})

/** A daemon stand-in that answers each request with the next of `answers` (the last repeats). */
async function daemon(answers: { status: number; body: unknown; retryAfter?: string }[]): Promise<string> {
  let asked = 0
  server = createServer((request, response) => {
    const answer = answers[Math.min(asked++, answers.length - 1)]!
    request.resume()
    response.writeHead(answer.status, {
      'content-type': 'application/json',
      ...(answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter }),
    })
    response.end(JSON.stringify(answer.body))
  })
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return `127.0.0.1:${(server.address() as { port: number }).port}`
}

describe('ApiClient', () => {
  test('a 503 (busy, or starting) is asked again after its Retry-After', async () => {
    const api = await daemon([
      { status: 503, body: { error: 'busy' }, retryAfter: '1' },
      { status: 200, body: [{ slot: 0 }] },
    ])
    expect(await new ApiClient({ api }).get('/v1/slots')).toEqual([{ slot: 0 }])
  })

  test('a daemon busy past the time limit is an ApiError with its own sentence', async () => {
    const api = await daemon([{ status: 503, body: { error: 'the daemon is starting' }, retryAfter: '1' }])
    const failure = await new ApiClient({ api, timeoutMs: 1500 }).get('/v1/slots').catch((err: Error) => err)
    expect(failure).toMatchObject({ name: 'ApiError', status: 503, message: 'the daemon is starting' })
  })

  test("another error is not retried, and keeps the daemon's list of problems", async () => {
    const api = await daemon([
      { status: 400, body: { error: 'invalid workload spec', details: ['spec.a: no'] } },
    ])
    const failure = await new ApiClient({ api })
      .request('POST', '/v1/apply', { text: '' })
      .catch((err: Error) => err)
    expect(failure).toMatchObject({
      name: 'ApiError',
      status: 400,
      details: ['spec.a: no'],
      message: 'invalid workload spec\n  spec.a: no',
    })
  })
})
