import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cleanup, DaemonProcess, rawRequest, waitFor } from '../packages/node/src/testing/index.js'
import { type Family, parseExposition, sampleValue } from './prometheus-text.js'

// Prometheus metrics of real daemons over real TCP (fake container runtime: the series, not
// Docker, are under test here).

const scrape = async (api: string, headers: Record<string, string> = {}) => {
  const answer = await rawRequest(api, { method: 'GET', path: '/metrics', headers })
  if (answer.status !== 200) throw new Error(`GET /metrics on ${api}: ${answer.status} ${answer.body}`)
  expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  return parseExposition(answer.body)
}
const listening = (daemon: DaemonProcess, name: string) =>
  waitFor(
    `${name} listening`,
    () => daemon.logs.find((line) => line.msg === `${name} listening`)?.[name] as string,
  )
const apply = (api: string, text: string) =>
  rawRequest(api, {
    method: 'POST',
    path: '/v1/apply',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  })

describe('metrics', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  afterAll(() => cleanup(daemons, dirs))

  it('parse as the text format, on the API and on --metrics, and count a member killed as dead', async () => {
    for (let i = 0; i < 3; i++) dirs.push(await DaemonProcess.tempDir())
    const a = await new DaemonProcess({ dataDir: dirs[0]!, args: ['--metrics', '127.0.0.1:0'] }).start()
    daemons.push(a)
    for (const dir of dirs.slice(1))
      daemons.push(await new DaemonProcess({ dataDir: dir, join: [a.joinAddr] }).start())
    const [, b, c] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess]
    const members = (families: Map<string, Family>, state: string) =>
      sampleValue(families, 'gary_members', { state })

    await waitFor('A to count 3 members alive', async () => members(await scrape(a.api), 'alive') === 3)
    expect((await apply(a.api, 'name: web\nimage: gary/busybox:test\nreplicas: 3\n')).status).toBe(200)
    await waitFor(
      '3 slots running across the nodes',
      async () => {
        let running = 0
        for (const daemon of daemons)
          running += sampleValue(await scrape(daemon.api), 'gary_slots', { phase: 'running' }) ?? 0
        return running === 3
      },
      { timeoutMs: 30_000 },
    )

    const families = await scrape(a.api)
    // Every family is documented and typed, and Gary's own carry their unit or `_total`.
    for (const family of families.values()) {
      expect(family.help, `${family.name} has HELP`).toBeDefined()
      if (family.name.startsWith('gary_') && family.type === 'counter') expect(family.name).toMatch(/_total$/)
    }
    for (const name of [
      'gary_members',
      'gary_connections',
      'gary_gossip_messages_total',
      'gary_gossip_bytes_total',
      'gary_heartbeats_late_total',
      'gary_suspicions_total',
      'gary_reconcile_pass_duration_seconds',
      'gary_plan_duration_seconds',
      'gary_slots',
      'gary_container_starts_total',
      'gary_container_restarts_total',
      'gary_slot_refusals_total',
      'gary_image_pulls_total',
      'gary_engine_calls_total',
      'gary_declarations',
      'gary_api_requests_total',
      'nodejs_eventloop_lag_seconds',
      'libp2p_connection_manager_connections',
    ])
      expect(families.has(name), `${name} is exposed`).toBe(true)
    expect(sampleValue(families, 'gary_declarations', { state: 'live' })).toBe(1)
    expect(sampleValue(families, 'gary_connections')).toBeGreaterThanOrEqual(2)
    expect(
      sampleValue(families, 'gary_gossip_messages_total', { topic: 'state', direction: 'in' }),
    ).toBeGreaterThan(0)
    expect(sampleValue(families, 'gary_reconcile_pass_duration_seconds_count')).toBeGreaterThan(0)
    expect(sampleValue(families, 'gary_api_requests_total', { route: 'POST /v1/apply', status: '200' })).toBe(
      1,
    )
    let started = 0
    for (const daemon of daemons) {
      const scraped = await scrape(daemon.api)
      const starts = sampleValue(scraped, 'gary_container_starts_total', { outcome: 'ok' }) ?? 0
      started += starts
      // Each start asked of the engine is one engine call of its kind, and each came after a create.
      expect(sampleValue(scraped, 'gary_engine_calls_total', { call: 'start' }) ?? 0).toBe(starts)
      expect(sampleValue(scraped, 'gary_engine_calls_total', { call: 'create' }) ?? 0).toBeGreaterThanOrEqual(
        starts,
      )
    }
    // A slot two nodes claimed at once may start twice before one gives it up.
    expect(started).toBeGreaterThanOrEqual(3)

    // The listener of its own serves the same exposition.
    const own = await scrape(await listening(a, 'metrics'))
    expect(members(own, 'alive')).toBe(3)

    await c.kill('SIGKILL')
    await waitFor(
      'A to count C dead',
      async () => {
        const after = await scrape(a.api)
        return members(after, 'dead') === 1 && members(after, 'alive') === 2
      },
      { timeoutMs: 10_000 },
    )
    const after = await scrape(b.api)
    expect(sampleValue(after, 'gary_member_deaths_total')).toBeGreaterThanOrEqual(1)
  })

  it('are behind the token like the rest of the API, on both listeners', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    const token = 'metrics-test-token-0123456789'
    const tokenFile = join(dir, 'token')
    await writeFile(tokenFile, `${token}\n`)
    const daemon = await new DaemonProcess({
      dataDir: join(dir, 'data'),
      args: ['--api-token-file', tokenFile, '--metrics', '127.0.0.1:0'],
    }).start()
    daemons.push(daemon)
    for (const address of [daemon.api, await listening(daemon, 'metrics')]) {
      expect((await rawRequest(address, { method: 'GET', path: '/metrics' })).status).toBe(401)
      const wrong = { authorization: 'Bearer not-the-token-at-all-000' }
      expect((await rawRequest(address, { method: 'GET', path: '/metrics', headers: wrong })).status).toBe(
        401,
      )
      await scrape(address, { authorization: `Bearer ${token}` })
      // What a web page could make a browser send stays refused, token or not.
      const crossSite = { authorization: `Bearer ${token}`, 'sec-fetch-site': 'cross-site' }
      expect(
        (await rawRequest(address, { method: 'GET', path: '/metrics', headers: crossSite })).status,
      ).toBe(403)
    }
  })
})
