// A steady HTTP request loop, run on a lab machine (test/lab/mesh.test.ts, bench/mesh.mjs): one
// request at a time, each on a new connection, until the duration ends or the stop file appears.
// Prints one JSON object:
// {results: [[startedAtMs, ok, ms, body-or-error]...]} (times relative to the start).
//   node scripts/request-loop.mjs URL DURATION_MS [TIMEOUT_MS] [PAUSE_MS] [STOP_FILE]
import { existsSync } from 'node:fs'
import { request } from 'node:http'

const [url, durationText, timeoutText = '2000', pauseText = '20', stopFile] = process.argv.slice(2)
const duration = Number(durationText)
const timeoutMs = Number(timeoutText)
const pauseMs = Number(pauseText)
const start = performance.now()
const results = []

function once() {
  return new Promise((resolve) => {
    const began = performance.now()
    const done = (ok, text) =>
      resolve([Math.round(began - start), ok, Math.round(performance.now() - began), text])
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => {
        body += chunk
      })
      res.on('end', () => done(res.statusCode === 200, body.trim().slice(0, 200)))
      res.on('error', (err) => done(false, err.message))
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', (err) => done(false, err.message))
    req.end()
  })
}

while (performance.now() - start < duration && !(stopFile && existsSync(stopFile))) {
  results.push(await once())
  await new Promise((resolve) => setTimeout(resolve, pauseMs))
}
process.stdout.write(`${JSON.stringify({ results })}\n`)
