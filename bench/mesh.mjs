// The routing mesh on the lab (scripts/lab.sh, as root): five machines, each with its own address,
// Docker engine and Gary daemon. Machines 1 and 3 forward published ports in the kernel (--mesh
// kernel: nftables NAT), machines 2 and 4 in the daemon (--mesh userland). One slot of a web
// server (busybox httpd, a 1 KiB page) runs on machine 3 and one on machine 4; the client, wrk,
// runs on machine 5 and sends requests of about 1 KiB:
//   direct                 to the container's host port on machine 3 (what a client had before the mesh)
//   kernel / userland      to the published port on machine 1 / 2, which holds no slot: one more hop
//   kernel / userland, local   to the published port on machine 3 / 4, whose mesh sends it to its own slot
// Rounds alternate the paths, so that the host's load falls on each alike. Throughput with 8
// connections, latency with 1 (no queueing); busybox httpd closes every connection after its
// answer, so each request is a connection of its own: requests/s are connections/s.
// Then the error window of a failover: 2 slots (machines 3 and 4), a request loop from machine 5
// through machine 1's (kernel) or machine 2's (userland) mesh, machine 3 powered off; failed
// requests and the time they span.
//
//   npm run bench:mesh -- [--rounds 5] [--seconds 8] [--failovers 3]
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import '../packages/node/dist/polyfill.js'
import { Lab } from '../packages/node/dist/testing/lab.js'
import { waitFor } from '../packages/node/dist/testing/wait.js'
import { TEST_IMAGE } from '../packages/runtime/dist/test-image.js'
import { allAlive, applyThroughApi, median, sleep, stats } from './lab-common.mjs'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '8' },
    failovers: { type: 'string', default: '3' },
  },
})
const rounds = Number(values.rounds)
const seconds = Number(values.seconds)
const failovers = Number(values.failovers)
const LOOP = fileURLToPath(new URL('../scripts/request-loop.mjs', import.meta.url))
const PUBLISHED = 80
const CLIENT = 5

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' })
} catch (err) {
  if (err.code === 'ENOENT') {
    console.error('bench:mesh: wrk is missing (bash scripts/ensure-docker.sh installs it)')
    process.exit(1)
  }
}

const lab = await Lab.up(5)
try {
  const mode = { 1: 'kernel', 2: 'userland', 3: 'kernel', 4: 'userland', 5: 'userland' }
  const args = (i) => [
    '--label',
    `m=${i}`,
    '--mesh',
    mode[i],
    ...(i === 3 || i === 4 ? ['--label', 'web=yes'] : []),
  ]
  await lab.startDaemon(1, args(1))
  const [seed] = await lab.joinAddrs(1)
  for (const i of [2, 3, 4, 5]) await lab.startDaemon(i, [...args(i), '--join', seed])
  await waitFor('every machine to list every machine alive', () => allAlive(lab), { timeoutMs: 60_000 })
  await throughput()
  await failoverWindow()
} finally {
  await lab.down()
}

/** A web server on machine 3 whose page is 1 KiB. */
function webSpec(name, extra) {
  return `name: ${name}
image: ${TEST_IMAGE}
command: [sh, -c, 'mkdir -p /www; for i in $(seq 1 32); do echo "slot $GARY_SLOT line $i ................................................"; done | head -c 1024 > /www/index.html; exec httpd -f -p 8080 -h /www']
resources: {cpu: 500m, memory: 32Mi}
${extra}`
}

async function throughput() {
  await applyThroughApi(
    lab,
    1,
    webSpec(
      'bench',
      `replicas: 2\nconstraints: {web: "yes"}\nports: [{container: 8080, published: ${PUBLISHED}}]\n`,
    ),
  )
  const slots = await waitFor(
    'the slots behind the published port on every machine',
    async () => {
      const rows = await Promise.all(lab.machines.map((i) => lab.api(i, '/v1/endpoints')))
      const slots = rows.map((r) => r.find((row) => row.workload === 'bench')?.slots ?? [])
      return slots.every((s) => s.length === 2) && slots[0]
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  )
  const onThree = slots.find((slot) => slot.endpoint.startsWith(`${lab.address(3)}:`))
  const paths = {
    direct: { url: `http://${onThree.endpoint}/`, machine: 3, port: Number(onThree.endpoint.split(':')[1]) },
    kernel: { url: `http://${lab.address(1)}:${PUBLISHED}/`, machine: 1, port: PUBLISHED },
    userland: { url: `http://${lab.address(2)}:${PUBLISHED}/`, machine: 2, port: PUBLISHED },
    'kernel, local': { url: `http://${lab.address(3)}:${PUBLISHED}/`, machine: 3, port: PUBLISHED },
    'userland, local': { url: `http://${lab.address(4)}:${PUBLISHED}/`, machine: 4, port: PUBLISHED },
  }
  // The process each path adds or replaces: Docker's proxy of the host port on machine 3, the
  // daemon on the machine whose published port is asked (in kernel mode its CPU is the daemon's
  // alone: the kernel's NAT is counted nowhere). Its CPU per connection is a figure the host's
  // load bends less than wall time.
  for (const path of Object.values(paths)) path.pid = await listener(path.machine, path.port)
  const nat = await lab.exec(1, ['nft', 'list', 'table', 'ip', 'gary-mesh'])
  if (!nat.includes(`dport ${PUBLISHED} dnat`))
    throw new Error(`machine 1 forwards nothing in the kernel:\n${nat}`)
  for (const name of Object.keys(paths)) {
    const page = await lab.exec(CLIENT, ['curl', '-fsS', '--max-time', '5', paths[name].url])
    if (page.length !== 1024) throw new Error(`the page through ${name} is ${page.length} bytes, not 1024`)
  }
  const runs = Object.fromEntries(
    Object.keys(paths).map((name) => [name, { rps: [], p50: [], p99: [], cpu: [] }]),
  )
  const loads = []
  for (let round = 0; round < rounds; round++) {
    loads.push(Number((await lab.exec(CLIENT, ['cat', '/proc/loadavg'])).split(' ')[0]))
    for (const [name, path] of Object.entries(paths)) {
      const before = await cpuMs(path)
      const load = await wrk(path.url, 8)
      const cpu = (await cpuMs(path)) - before
      runs[name].cpu.push(Math.round((cpu * 1000) / (load.rps * seconds)))
      const quiet = await wrk(path.url, 1)
      runs[name].rps.push(load.rps)
      runs[name].p50.push(quiet.p50)
      runs[name].p99.push(quiet.p99)
      console.error(
        `round ${round + 1} ${name}: ${load.rps} req/s (${load.errors} errors), ${runs[name].cpu.at(-1)} us CPU/conn, 1 conn p50 ${quiet.p50} ms p99 ${quiet.p99} ms`,
      )
    }
  }
  const m = (name, key) => median(runs[name][key])
  console.log(
    `\nbench:mesh, ${rounds} rounds of ${seconds} s each (min / median / max); wrk on machine ${CLIENT}; load average ${stats(loads)}`,
  )
  console.log(
    '| path | requests/s = connections/s, 8 conns | p50, 1 conn | p99, 1 conn | CPU per connection of its process |',
  )
  console.log('| --- | --- | --- | --- | --- |')
  for (const name of Object.keys(paths)) {
    const r = runs[name]
    const who = name === 'direct' ? "Docker's proxy" : 'the daemon'
    console.log(
      `| ${name} | ${stats(r.rps)} | ${stats(r.p50)} ms | ${stats(r.p99)} ms | ${stats(r.cpu)} us (${who}) |`,
    )
  }
  for (const name of Object.keys(paths).slice(1)) {
    console.log(
      `${name}: throughput ${(m(name, 'rps') / m('direct', 'rps')).toFixed(2)}x direct, p50 +${(m(name, 'p50') - m('direct', 'p50')).toFixed(2)} ms`,
    )
  }
  await lab.gary(1, ['rm', 'bench'])
}

/** The pid, in machine `i`'s own namespace, of the process listening on TCP `port` there. */
async function listener(i, port) {
  const out = await lab.exec(i, ['ss', '-Hltnp', `sport = :${port}`])
  const pid = /pid=(\d+)/.exec(out)?.[1]
  if (pid === undefined) throw new Error(`nothing listens on ${port} on machine ${i}: ${out}`)
  return Number(pid)
}

/** CPU time a process of machine `machine` has used, ms. */
async function cpuMs({ machine, pid }) {
  const fields = (await lab.exec(machine, ['cat', `/proc/${pid}/stat`])).split(') ')[1].split(' ')
  // utime and stime, fields 14 and 15 of stat (12 and 13 after the name), in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** wrk for `seconds` with `connections`, requests of about 1 KiB: requests/s, p50 and p99 in ms. */
async function wrk(url, connections) {
  const base = `GET / HTTP/1.1\r\nHost: ${new URL(url).host}\r\nX-Pad: \r\n\r\n`.length
  const pad = 'x'.repeat(1024 - base)
  const out = await lab.exec(
    CLIENT,
    ['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', `X-Pad: ${pad}`, url],
    seconds * 1000 + 30_000,
  )
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
  const percentile = (p) => {
    const match = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out)
    if (match === null) throw new Error(`wrk printed no ${p}th percentile:\n${out}`)
    return Math.round(Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2]] * 100) / 100
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  const errors = non2xx + (socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0))
  return { rps: Math.round(rps), p50: percentile(50), p99: percentile(99), errors }
}

async function failoverWindow() {
  const by = { kernel: { windows: [], failures: [] }, userland: { windows: [], failures: [] } }
  for (let run = 0; run < failovers * 2; run++) {
    const mode = run % 2 === 0 ? 'kernel' : 'userland'
    const via = mode === 'kernel' ? 1 : 2
    await applyThroughApi(
      lab,
      1,
      webSpec(
        `fail${run}`,
        `replicas: 2\nconstraints: {web: "yes"}\nports: [{container: 8080, published: ${8070 + run}}]\n`,
      ),
    )
    await waitFor(
      `two slots behind the published port on machine ${via}`,
      async () =>
        (await lab.api(via, '/v1/endpoints')).find((row) => row.workload === `fail${run}`)?.slots.length ===
        2,
      { timeoutMs: 60_000, intervalMs: 250 },
    )
    const loop = lab.exec(
      CLIENT,
      ['node', LOOP, `http://${lab.address(via)}:${8070 + run}/`, '12000', '2000', '10'],
      90_000,
    )
    await sleep(2000)
    await lab.poweroff(3)
    const { results } = JSON.parse(await loop)
    const failed = results.filter(([, ok]) => !ok)
    const window = failed.length === 0 ? 0 : failed.at(-1)[0] + failed.at(-1)[2] - failed[0][0]
    by[mode].windows.push(window)
    by[mode].failures.push(failed.length)
    console.error(
      `failover ${run + 1} (${mode}): ${failed.length} of ${results.length} requests failed, over ${window} ms`,
    )
    await lab.boot(3)
    await waitFor('machine 3 to be alive everywhere', () => allAlive(lab), { timeoutMs: 60_000 })
    await lab.gary(1, ['rm', `fail${run}`])
  }
  console.log(
    `\nfailover (power off a machine holding one of 2 slots, a request every 10 ms on a new connection, 2 s timeout; ${failovers} runs each; min / median / max):`,
  )
  for (const [mode, { windows, failures }] of Object.entries(by))
    console.log(`${mode}: failed requests ${stats(failures)}, spanning ${stats(windows)} ms`)
}
