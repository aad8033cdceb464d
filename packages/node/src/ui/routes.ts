import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { EventStream, RawAnswer, type Route } from '../api/server.js'
import { type FeedComponents, type FeedInit, feed } from './feed.js'

/** The page's one file, shipped in the package beside `dist/` (`ui/live.html`). */
export const PAGE_FILE = new URL('../../ui/live.html', import.meta.url)

/**
 * The live page (`GET /`) and its stream of server-sent events (`GET /v1/ui/stream`). The page
 * comes with a Content-Security-Policy that runs only its own inline script and style (by hash)
 * and lets it connect to nothing but this API.
 */
export function pageRoutes(components: FeedComponents, init: FeedInit = {}): Route[] {
  let page: RawAnswer | undefined
  return [
    {
      method: 'GET',
      path: '/',
      handle: () => {
        page ??= loadPage()
        return page
      },
    },
    {
      method: 'GET',
      path: '/v1/ui/stream',
      handle: ({ signal }) => new EventStream(feed(init, components, signal)),
    },
  ]
}

function loadPage(): RawAnswer {
  const html = readFileSync(PAGE_FILE, 'utf8')
  const hashes = (tag: string) =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))]
      .map((match) => `'sha256-${createHash('sha256').update(match[1]!).digest('base64')}'`)
      .join(' ')
  const policy = [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  return new RawAnswer('text/html; charset=utf-8', html, {
    'content-security-policy': policy,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  })
}
