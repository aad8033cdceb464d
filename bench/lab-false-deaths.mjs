// False deaths on the lab (scripts/lab.sh, as root): machines that all stay up, Gary at its
// defaults. Phases: idle; both CPUs saturated by a CPU hog (one busy process per core, on the
// host, at the daemons' priority); 200 parallel applies to machine 1's API. Each phase prints what
// the daemons logged about members that were alive all along: suspects, accusations of silence,
// reports and deaths. Any of them is a false alarm; a death is a false death.
//
//   npm run bench:lab-false-deaths -- [--machines 5] [--idle-seconds 30] [--hog-seconds 120] [--applies 200]
import { spawn } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { garyLab, sleep } from './lab-common.mjs'

const { values } = parseArgs({
  options: {
    machines: { type: 'string', default: '5' },
    'idle-seconds': { type: 'string', default: '30' },
    'hog-seconds': { type: 'string', default: '120' },
    applies: { type: 'string', default: '200' },
  },
})
const machines = Number(values.machines)
const ALARMS = [
  'member suspect',
  'member silent: accusing',
  'member reported down',
  'member reported down: held back by its last heartbeat',
  'member dead',
]

const lab = await garyLab(machines)

/** Every alarm each machine's daemon logged since `marks` (log lengths), by kind. */
async function alarmsSince(marks) {
  const counts = Object.fromEntries(ALARMS.map((kind) => [kind, 0]))
  for (const i of lab.machines)
    for (const line of (await lab.logs(i)).slice(marks.get(i)))
      if (ALARMS.includes(line.msg)) counts[line.msg]++
  return counts
}

async function marks() {
  return new Map(await Promise.all(lab.machines.map(async (i) => [i, (await lab.logs(i)).length])))
}

const rows = []
async function phase(name, run) {
  const before = await marks()
  const started = Date.now()
  await run()
  const counts = await alarmsSince(before)
  rows.push({ name, seconds: Math.round((Date.now() - started) / 1000), counts, load: loadavg()[0] })
  console.log(`${name}: ${JSON.stringify(counts)} (load ${loadavg()[0].toFixed(1)})`)
}

/** One API call on machine 1, over curl inside it (the API listens on its loopback). */
function apply(name) {
  const text = `name: ${name}\nimage: gary/busybox:test\ncommand: [sleep, "3600"]\nreplicas: 0\n`
  return lab
    .exec(1, [
      'curl',
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '60',
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ text }),
      'http://127.0.0.1:7947/v1/apply',
    ])
    .catch((err) => String(err.message).slice(0, 40))
}

try {
  await phase(`idle ${values['idle-seconds']} s`, () => sleep(Number(values['idle-seconds']) * 1000))
  await phase(`CPU hog on all ${cpus().length} CPUs, ${values['hog-seconds']} s`, async () => {
    const hogs = cpus().map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
    try {
      await sleep(Number(values['hog-seconds']) * 1000)
    } finally {
      for (const hog of hogs) hog.kill('SIGKILL')
    }
  })
  await phase(`${values.applies} parallel applies to machine 1`, async () => {
    const codes = await Promise.all(
      Array.from({ length: Number(values.applies) }, (_, i) => apply(`burst-${i}`)),
    )
    const tally = {}
    for (const code of codes) tally[code] = (tally[code] ?? 0) + 1
    console.log(`  answers: ${JSON.stringify(tally)}`)
    // The applies' gossip and reconcile passes settle on every machine.
    await sleep(10_000)
  })
  console.log()
  console.log(`${machines} machines, every one up all along (false alarms, summed over the machines' logs):`)
  console.log(`| phase | s | ${ALARMS.join(' | ')} | load (1 min) |`)
  console.log(`| --- | --- |${ALARMS.map(() => ' --- |').join('')} --- |`)
  for (const row of rows)
    console.log(
      `| ${row.name} | ${row.seconds} | ${ALARMS.map((kind) => row.counts[kind]).join(' | ')} | ${row.load.toFixed(1)} |`,
    )
} finally {
  await lab.down()
}
