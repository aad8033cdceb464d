import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type RawRequest, rawExchange, rawRequest, suspicions } from '../packages/node/src/testing/index.js'
import { daemonPair } from './daemon-pair.js'

/** Fixed, so a failure can be replayed; print it with the failure. GARY_FUZZ_SEED picks another. */
const SEED = Number(process.env.GARY_FUZZ_SEED ?? 15)
const RUNS = 300

const pathChars = fc.constantFrom(
  ..."abcxyz-_.~!$&'()*+,;=:@/%?#[]09AZ".split(''),
  '%zz',
  '%E0%A4%A',
  '%00',
  '..',
)
const segment = fc.oneof(
  fc.stringMatching(/^[a-z0-9-]{1,70}$/),
  fc.array(pathChars, { maxLength: 40 }).map((parts) => parts.join('')),
  fc.constantFrom('%', '%%', '%C0%AF', '..%2F..', 'web', 'a'.repeat(5000)),
)
const route = fc.constantFrom(
  '/v1/health',
  '/v1/id',
  '/v1/nodes',
  '/v1/slots',
  '/v1/workloads',
  '/v1/apply',
  '/v1/drain',
  '/v1/ban',
  '/v1/scale',
  '/v1/secrets',
  '/v1/login',
  '/v1/endpoints',
  '/v1/events',
  '/v1/volumes',
  '/v1/test/partition',
  '/metrics',
  '/v1/ui/stream',
  '/',
  '/v1',
)
const path = fc.oneof(
  route,
  fc
    .tuple(
      fc.constantFrom('/v1/workloads/', '/v1/logs/', '/v1/rollout/', '/v1/secrets/', '/v1/login/'),
      segment,
    )
    .map(([a, b]) => a + b),
  fc
    .tuple(segment, fc.constantFrom('/history', '/restart', '/rollback'))
    .map(([name, action]) => `/v1/workloads/${name}${action}`),
  fc
    .tuple(
      fc.constantFrom('/v1/logs/web', '/v1/workloads', '/v1/nodes', '/v1/events', '/v1/volumes'),
      fc.array(fc.tuple(segment, segment), { maxLength: 4 }),
    )
    .map(([base, query]) => `${base}?${query.map(([k, v]) => `${k}=${v}`).join('&')}`),
  fc.array(pathChars, { minLength: 1, maxLength: 60 }).map((parts) => `/${parts.join('')}`),
)
const method = fc.oneof(
  fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'OPTIONS', 'HEAD', 'PATCH'),
  fc.stringMatching(/^[A-Z]{1,12}$/),
)
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,200}$/)
const headers = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      '',
    ),
    origin: fc.constantFrom('http://evil.example', 'null', 'http://127.0.0.1:1', ''),
    host: fc.oneof(
      fc.constantFrom('evil.example', 'localhost', '127.0.0.1', '[::1]:1', '', 'a:b:c'),
      headerValue,
    ),
    'sec-fetch-site': fc.constantFrom('cross-site', 'same-site', 'same-origin', 'none', 'x'),
    authorization: fc.oneof(fc.constant('Bearer x'), headerValue),
    'x-fuzz': headerValue,
    'content-length': fc.constantFrom('0', '5', '99999999'),
  },
  { requiredKeys: [] },
)
const nested = fc
  .tuple(fc.nat(3000), fc.constantFrom('[', '{a: '))
  .map(([depth, open]) => `a: ${open.repeat(depth)}${(open === '[' ? ']' : '}').repeat(depth)}`)
const specText = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).map((name) => `name: ${name}\nimage: gary/busybox:test\n`),
  fc.string({ maxLength: 300 }),
  nested,
  fc.nat(40_000).map((n) => `a: [${'1,'.repeat(n)}1]`),
  fc.constant(`a: &a [x, x, x, x, x]\nb: &b [${'*a, '.repeat(50)}*a]\nc: [${'*b, '.repeat(50)}*b]\n`),
  fc.nat(2000).map((n) => '---\n'.repeat(n)),
)
const body = fc.oneof(
  fc.constant(undefined),
  specText.map((text) => JSON.stringify({ text })),
  fc.json({ maxDepth: 4 }),
  fc.nat(5000).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.string({ maxLength: 500 }),
  fc.constant(JSON.stringify({ on: true })),
  fc.constant(JSON.stringify({ peers: ['x'] })),
  fc.record({ name: segment, value: fc.oneof(fc.base64String(), fc.string()) }).map((b) => JSON.stringify(b)),
  fc
    .record({ registry: segment, username: fc.string(), password: fc.string() })
    .map((b) => JSON.stringify(b)),
)
const httpRequest = fc.record({ method, path, headers, body }).map(
  (r): RawRequest => ({
    method: r.method,
    path: r.path,
    headers: Object.fromEntries(Object.entries(r.headers).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >,
    ...(r.body === undefined ? {} : { body: r.body }),
  }),
)
/** Not necessarily HTTP at all: garbage, or a request with garbage spliced in. */
const rawBytes = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }),
  fc.tuple(fc.nat(60), fc.uint8Array({ minLength: 1, maxLength: 200 })).map(([at, garbage]) => {
    const request = Buffer.from('POST /v1/apply HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}')
    return Buffer.concat([request.subarray(0, at), garbage, request.subarray(at)])
  }),
)
const probe = fc.oneof(
  { weight: 9, arbitrary: httpRequest.map((request) => ({ kind: 'http' as const, request })) },
  { weight: 1, arbitrary: rawBytes.map((bytes) => ({ kind: 'raw' as const, bytes })) },
)

/**
 * Random methods, paths, headers and bodies (and bytes that are not HTTP) against a running
 * daemon whose peer watches its heartbeats: every request is answered, nothing fails with an
 * unhandled error, the daemon stays up, and its peer never suspects it.
 */
describe(`the HTTP API under fuzzing (seed ${SEED})`, () => {
  const pair = daemonPair()

  it(`answers ${RUNS} random requests, never crashes, never blocks heartbeats`, async () => {
    const probes = fc.sample(probe, { seed: SEED, numRuns: RUNS })
    const unanswered: string[] = []
    const failed: string[] = []
    let next = 0
    const worker = async () => {
      for (let i = next++; i < probes.length; i = next++) {
        const p = probes[i]!
        const what = `#${i} ${p.kind === 'http' ? `${p.request.method} ${p.request.path.slice(0, 80)}` : 'raw bytes'}`
        try {
          if (p.kind === 'raw') {
            await rawExchange(pair.a.api, p.bytes)
            continue
          }
          // Streams (logs --follow) never end: the status line is the answer.
          const answer = await rawRequest(pair.a.api, { ...p.request, headersOnly: true, timeoutMs: 15_000 })
          if (answer.status === 500 || answer.status < 100) failed.push(`${what}: ${answer.status}`)
        } catch (err) {
          // The client refusing to send a header it finds malformed is not the daemon's doing.
          if ((err as { code?: string }).code?.startsWith('ERR_') === true) continue
          unanswered.push(`${what}: ${(err as Error).message}`)
        }
      }
    }
    await Promise.all(Array.from({ length: 6 }, worker))
    expect({ seed: SEED, unanswered, failed }).toEqual({ seed: SEED, unanswered: [], failed: [] })
    expect(pair.a.running).toBe(true)
    expect((await rawRequest(pair.a.api, { method: 'GET', path: '/v1/health' })).status).toBe(200)
    expect(pair.a.logs.filter((line) => line.level >= 50).map((line) => line.msg)).toEqual([])
    expect(suspicions(pair.b, pair.a.peerId)).toEqual([])
  })
})
