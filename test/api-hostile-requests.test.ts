import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { NodeView } from '../packages/node/src/api/routes.js'
import { DaemonProcess, rawRequest, runCli, suspicions, waitFor } from '../packages/node/src/testing/index.js'
import { daemonPair } from './daemon-pair.js'

/** A stack trace line, which a user should never see for a mistake they can fix. */
const STACK = /^\s+at /m
const TOKEN = 'a-long-enough-token-for-tests-123'

const applyBody = (text: string) => JSON.stringify({ text })
const json = { 'content-type': 'application/json' }

/**
 * The requests of issue 15 (items 1, 2 and 10), sent over real HTTP to a real daemon whose peer
 * watches its heartbeats: a request may be refused, but it never takes the node down, never
 * stalls it long enough for its peer to suspect it, and never writes what a web page sent.
 */
describe('the API against hostile requests', () => {
  const pair = daemonPair()
  const { daemons, dirs } = pair

  const expectHealthy = async () => {
    expect(pair.a.running).toBe(true)
    expect((await rawRequest(pair.a.api, { method: 'GET', path: '/v1/health' })).status).toBe(200)
    expect(suspicions(pair.b, pair.a.peerId)).toEqual([])
    expect(pair.a.logs.filter((line) => line.level >= 50)).toEqual([])
  }

  it('refuses deeply nested specs at once and stays up (the 2 KB probe killed it)', async () => {
    const probe = `a: ${'['.repeat(1000)}${']'.repeat(1000)}`
    for (let i = 0; i < 2; i++) {
      const answer = await rawRequest(pair.a.api, {
        method: 'POST',
        path: '/v1/apply',
        headers: json,
        body: applyBody(probe),
      })
      expect(answer.status).toBe(400)
      expect(answer.body).toContain('nests deeper than 32 levels')
    }
    // 500 KB of nesting kept the event loop busy for 10-12 s: the peers declared the node dead.
    const deep = `a: ${'['.repeat(250_000)}${']'.repeat(250_000)}`
    const answer = await rawRequest(pair.a.api, {
      method: 'POST',
      path: '/v1/apply',
      headers: json,
      body: applyBody(deep),
    })
    expect(answer.status).toBe(400)
    expect(answer.body).toContain('nests deeper than 32 levels')
    await expectHealthy()
  })

  it('parses a large spec off the event loop: it answers other requests meanwhile', async () => {
    // A flat 1 MiB list: no nesting to refuse, seconds of parsing (6.7 s on the event loop here).
    const flat = `a: [${'1,'.repeat(520_000)}1]`
    let appliedAt: number | undefined
    const apply = rawRequest(pair.a.api, {
      method: 'POST',
      path: '/v1/apply',
      headers: json,
      body: applyBody(flat),
      timeoutMs: 30_000,
    }).then((answer) => {
      appliedAt = Date.now()
      return answer
    })
    // Health answers while the spec is being parsed, not after.
    await waitFor('the API to answer while the spec is parsed', async () => {
      const health = await rawRequest(pair.a.api, { method: 'GET', path: '/v1/health' })
      return health.status === 200 && appliedAt === undefined
    })
    expect((await apply).status).toBe(400)
    await expectHealthy()
    expect(await pair.a.cli<unknown[]>('get')).toEqual([])
  })

  it('refuses what a web page can make a browser send, and writes nothing', async () => {
    await writeFile(join(dirs[0]!, 'secret.yaml'), 'name: secret\nimage: x\nenv: { PASSWORD: hunter2 }\n')
    await runCli(['apply', '-f', join(dirs[0]!, 'secret.yaml'), '--api', pair.a.api])
    const spec = applyBody('name: evil\nimage: x\n')
    const attempts: { what: string; headers: Record<string, string>; status: number }[] = [
      // A simple cross-origin POST: no preflight, the page cannot read the answer but it need not.
      { what: 'text/plain body', headers: { 'content-type': 'text/plain' }, status: 415 },
      { what: 'form body', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415 },
      { what: 'foreign Origin', headers: { ...json, origin: 'http://evil.example' }, status: 403 },
      { what: 'cross-site fetch', headers: { ...json, 'sec-fetch-site': 'cross-site' }, status: 403 },
      { what: 'same-site fetch', headers: { ...json, 'sec-fetch-site': 'same-site' }, status: 403 },
      { what: 'rebound Host', headers: { ...json, host: 'evil.example:7947' }, status: 403 },
    ]
    for (const attempt of attempts) {
      const answer = await rawRequest(pair.a.api, {
        method: 'POST',
        path: '/v1/apply',
        headers: attempt.headers,
        body: spec,
      })
      expect({ what: attempt.what, status: answer.status }).toEqual({
        what: attempt.what,
        status: attempt.status,
      })
    }
    // DNS rebinding: a page whose name resolves to 127.0.0.1 could read the env values.
    const read = await rawRequest(pair.a.api, {
      method: 'GET',
      path: '/v1/workloads/secret',
      headers: { host: `rebind.evil.example:${pair.a.api.split(':')[1]}` },
    })
    expect(read.status).toBe(403)
    expect(read.body).not.toContain('hunter2')
    // The API's own names still work.
    for (const host of [pair.a.api, `localhost:${pair.a.api.split(':')[1]}`]) {
      const ok = await rawRequest(pair.a.api, {
        method: 'GET',
        path: '/v1/workloads/secret',
        headers: { host },
      })
      expect(ok.status).toBe(200)
    }
    const names = (await pair.a.cli<{ name: string }[]>('get')).map((row) => row.name)
    expect(names).toEqual(['secret'])
    await runCli(['rm', 'secret', '--api', pair.a.api])
    await expectHealthy()
  })

  it('answers a malformed %-escape with 400 and logs no error', async () => {
    for (const path of ['/v1/workloads/%E0%A4%A', '/v1/workloads/%', '/v1/logs/%zz']) {
      const answer = await rawRequest(pair.a.api, { method: 'GET', path })
      expect({ path, status: answer.status }).toEqual({ path, status: 400 })
      expect(answer.body).not.toMatch(STACK)
    }
    const gone = await rawRequest(pair.a.api, { method: 'DELETE', path: '/v1/workloads/%C0' })
    expect(gone.status).toBe(400)
    await expectHealthy()
  })

  it('takes its API token from a file or the environment', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    const tokenFile = join(dir, 'api.token')
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
    const fromFile = await new DaemonProcess({ dataDir: dir, args: ['--api-token-file', tokenFile] }).start()
    daemons.push(fromFile)
    const fromEnv = await new DaemonProcess({
      dataDir: await DaemonProcess.tempDir(),
      env: { GARY_API_TOKEN: TOKEN },
    }).start()
    daemons.push(fromEnv)
    dirs.push(fromEnv.options.dataDir)
    for (const daemon of [fromFile, fromEnv]) {
      expect((await rawRequest(daemon.api, { method: 'GET', path: '/v1/nodes' })).status).toBe(401)
      const viaFile = JSON.parse(
        await runCli(['nodes', '--json', '--api', daemon.api, '--api-token-file', tokenFile]),
      ) as NodeView[]
      expect(viaFile.map((node) => node.id)).toEqual([daemon.peerId])
      const viaEnv = JSON.parse(
        await runCli(['nodes', '--json', '--api', daemon.api], { GARY_API_TOKEN: TOKEN }),
      ) as NodeView[]
      expect(viaEnv.map((node) => node.id)).toEqual([daemon.peerId])
    }
    // The token is nowhere on the daemon's command line.
    expect(fromFile.options.args?.join(' ')).not.toContain(TOKEN)
  })

  it('refuses an API host that only looks like loopback, in one sentence', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    // Matched /^127\./ and passed; it resolves to nothing local (or to nothing at all).
    const daemon = new DaemonProcess({ dataDir: dir, args: ['--api', '127.example.invalid:0'] })
    const failure = await daemon.start().then(
      () => undefined,
      (err: Error) => err.message,
    )
    daemons.push(daemon)
    expect(failure).toMatch(/API host 127\.example\.invalid/)
    expect(failure).not.toMatch(STACK)
  })

  // Last: B is banned for a while, and suspects A meanwhile.
  it('bans only a member by its node id, never itself, and a ban is no workload to remove', async () => {
    const ban = (node: string) =>
      rawRequest(pair.a.api, {
        method: 'POST',
        path: '/v1/ban',
        headers: json,
        body: JSON.stringify({ node, banned: true }),
      })
    for (const [node, why] of [
      ['not-a-node', 'is not a node id'],
      [pair.a.peerId, 'a node cannot ban itself'],
    ] as const) {
      const answer = await ban(node)
      expect({ node, status: answer.status }).toEqual({ node, status: 400 })
      expect(answer.body).toContain(why)
    }
    expect(await pair.a.cli<unknown[]>('get')).toEqual([])
    expect((await ban(pair.b.peerId)).status).toBe(200)
    // The ban's entry is not a workload: `gary get` lists none and `gary rm` finds none.
    expect(await pair.a.cli<unknown[]>('get')).toEqual([])
    const removed = await rawRequest(pair.a.api, {
      method: 'DELETE',
      path: `/v1/workloads/${encodeURIComponent(`@ban/${pair.b.peerId}`)}`,
    })
    expect(removed.body).toContain('not found')
    const lifted = await rawRequest(pair.a.api, {
      method: 'POST',
      path: '/v1/ban',
      headers: json,
      body: JSON.stringify({ node: pair.b.peerId, banned: false }),
    })
    expect(JSON.parse(lifted.body)).toEqual({ node: pair.b.peerId, banned: false, changed: true })
    await waitFor('A and B to reconnect', async () =>
      (await pair.b.cli<NodeView[]>('nodes')).some(
        (node) => node.id === pair.a.peerId && node.state === 'alive',
      ),
    )
  })
})
