import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { afterAll, describe, expect, it } from 'vitest'
import { cleanup, DaemonProcess, rawRequest, runCli, waitFor } from '../packages/node/src/testing/index.js'

// The live page in a real headless browser (Debian's chromium, scripts/ensure-chromium.sh),
// served by real daemons over real TCP (fake container runtime: the page is under test here).

const CHROMIUM = process.env.GARY_CHROMIUM ?? '/usr/bin/chromium'
const OUTPUT = fileURLToPath(new URL('../test-output/ui/', import.meta.url))
const REPLICAS = 6

/**
 * Waits for `check` to hold in the page; a timeout names the invariant that did not hold and
 * what the page showed instead.
 */
async function pageShows(page: Page, what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  try {
    await page.waitForFunction(check, { timeout: timeoutMs, polling: 100 })
  } catch (err) {
    const shown = await pageSummary(page).catch((cause) => `(no summary: ${(cause as Error).message})`)
    throw new Error(
      `the page did not show ${what} within ${timeoutMs} ms (${(err as Error).message}); it showed ${shown}`,
    )
  }
}

/** What the page shows, in one line: its nodes, its slots, the kinds in its events list. */
function pageSummary(page: Page): Promise<string> {
  return page.evaluate(() => {
    const short = (id: string | null) => (id ? id.slice(-6) : '-')
    const rows = (selector: string, text: (row: Element) => string) =>
      [...document.querySelectorAll(selector)].map(text).join(', ')
    const nodes = rows(
      '[data-node-id]',
      (row) => `${short(row.getAttribute('data-node-id'))} ${row.getAttribute('data-state')}`,
    )
    const slots = rows(
      '[data-slot]',
      (row) =>
        `${row.getAttribute('data-slot')} ${row.getAttribute('data-phase')} on ${short(row.getAttribute('data-node'))}`,
    )
    const events = rows('#events [data-kind]', (row) => row.getAttribute('data-kind') ?? '')
    const snapshots = document.body.dataset.snapshots ?? '0'
    return `nodes [${nodes}], slots [${slots}], events newest first [${events}], after ${snapshots} snapshots`
  })
}

describe('the live page', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let browser: Browser | undefined
  const launch = async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no browser at ${CHROMIUM}: run scripts/ensure-chromium.sh (as root)`)
    browser ??= await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in a container: chromium's sandbox needs user namespaces it may not have.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    })
    return browser
  }
  afterAll(async () => {
    await browser?.close()
    await cleanup(daemons, dirs)
  })

  it('lists the nodes and their slots, and shows a killed node dead and its slots moved without a reload', async () => {
    for (let i = 0; i < 3; i++) dirs.push(await DaemonProcess.tempDir())
    const a = await new DaemonProcess({ dataDir: dirs[0]!, args: ['--label', 'zone=a'] }).start()
    daemons.push(a)
    for (const [i, dir] of dirs.slice(1).entries())
      daemons.push(
        await new DaemonProcess({
          dataDir: dir,
          join: [a.joinAddr],
          args: ['--label', `zone=${'bc'[i]}`],
        }).start(),
      )
    const c = daemons[2]!
    // Placed once all three are known, every node holds some of the slots.
    await waitFor('every node to list three alive', async () => {
      for (const daemon of daemons) {
        const nodes = JSON.parse((await rawRequest(daemon.api, { method: 'GET', path: '/v1/nodes' })).body)
        if (nodes.filter((node: { state: string }) => node.state === 'alive').length !== 3) return false
      }
      return true
    })
    const applied = await rawRequest(a.api, {
      method: 'POST',
      path: '/v1/apply',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `name: web\nimage: gary/busybox:test\nreplicas: ${REPLICAS}\n` }),
    })
    expect(applied.status).toBe(200)

    // `gary ui` gives the address the browser opens.
    const url = (await runCli(['ui', '--api', a.api])).trim()
    expect(url).toBe(`http://${a.api}/`)

    const page = await (await launch()).newPage()
    await page.setViewport({ width: 1280, height: 900 })
    const problems: string[] = []
    page.on('pageerror', (err) => problems.push(`page error: ${(err as Error).message}`))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    await page.goto(url)

    const ids = daemons.map((daemon) => daemon.peerId)
    await pageShows(page, 'three nodes alive and every slot running', () => {
      const nodes = [...document.querySelectorAll('[data-node-id]')]
      const slots = [...document.querySelectorAll('[data-slot]')]
      return (
        nodes.length === 3 &&
        nodes.every((row) => row.getAttribute('data-state') === 'alive') &&
        slots.length === 6 &&
        slots.every((row) => row.getAttribute('data-phase') === 'running')
      )
    })
    const shown = await page.$$eval('[data-node-id]', (rows) =>
      rows.map((row) => row.getAttribute('data-node-id')),
    )
    expect(shown.sort()).toEqual([...ids].sort())
    const onC = await page.$$eval(
      '[data-slot]',
      (rows, id) =>
        rows
          .filter((row) => row.getAttribute('data-node') === id)
          .map((row) => row.getAttribute('data-slot')),
      c.peerId,
    )
    expect(onC.length, 'C holds slots').toBeGreaterThan(0)
    await mkdir(OUTPUT, { recursive: true })
    await page.screenshot({ path: `${OUTPUT}before-kill.png`, fullPage: true })

    // A mark in the page's own state: a reload would lose it.
    await page.evaluate(() => {
      ;(window as unknown as { notReloaded: boolean }).notReloaded = true
    })
    await c.kill('SIGKILL')
    await pageShows(
      page,
      `C (${c.peerId}) dead and its slots ${onC.join(', ')} running on A or B`,
      () => {
        const cId = document.querySelector('[data-state="dead"]')?.getAttribute('data-node-id')
        if (cId === undefined || cId === null) return false
        const slots = [...document.querySelectorAll('[data-slot]')]
        return (
          slots.length === 6 &&
          slots.every(
            (row) => row.getAttribute('data-phase') === 'running' && row.getAttribute('data-node') !== cId,
          )
        )
      },
      30_000,
    )
    expect(await page.$eval('[data-state="dead"]', (row) => row.getAttribute('data-node-id'))).toBe(c.peerId)
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true)
    // The events area says what the page saw happen.
    // Listed from the same snapshots that showed the death and the moves: no wait past them.
    await pageShows(
      page,
      'a `dead` and a `moved` event in its events list',
      () => {
        const kinds = [...document.querySelectorAll('#events [data-kind]')].map((item) =>
          item.getAttribute('data-kind'),
        )
        return kinds.includes('dead') && kinds.includes('moved')
      },
      15_000,
    )
    await pageShows(page, 'the failover figure', () =>
      (document.getElementById('failover')?.textContent ?? '').startsWith('last failover: every slot ready'),
    )
    await page.screenshot({ path: `${OUTPUT}after-kill.png`, fullPage: true })
    expect(problems).toEqual([])
  })

  it('is behind the API token when there is one, and served under its Content-Security-Policy', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    const token = 'page-test-token-0123456789abcdef'
    const daemon = await new DaemonProcess({ dataDir: dir, env: { GARY_API_TOKEN: token } }).start()
    daemons.push(daemon)
    const bare = await rawRequest(daemon.api, { method: 'GET', path: '/' })
    expect(bare.status).toBe(401)
    expect(bare.headers['www-authenticate']).toMatch(/^Basic /)
    // A browser sends the token as the password of Basic auth, with any user name.
    const basic = `Basic ${Buffer.from(`me:${token}`).toString('base64')}`
    const page = await rawRequest(daemon.api, { method: 'GET', path: '/', headers: { authorization: basic } })
    expect(page.status).toBe(200)
    expect(page.body).toContain('<title>Gary</title>')
    expect(page.headers['content-security-policy']).toMatch(/script-src 'sha256-/)
    // In the browser: asked for credentials, given the token, the page and its stream work.
    const tab = await (await launch()).newPage()
    await tab.authenticate({ username: 'me', password: token })
    await tab.goto(`http://${daemon.api}/`)
    await pageShows(tab, 'its one node alive, behind the token', () => {
      const rows = [...document.querySelectorAll('[data-node-id]')]
      return rows.length === 1 && rows[0]!.getAttribute('data-state') === 'alive'
    })
    const wrong = `Basic ${Buffer.from('me:not-the-token').toString('base64')}`
    expect(
      (
        await rawRequest(daemon.api, {
          method: 'GET',
          path: '/v1/ui/stream',
          headers: { authorization: wrong },
        })
      ).status,
    ).toBe(401)
  })
})
