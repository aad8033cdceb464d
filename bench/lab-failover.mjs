// Failover on the lab (scripts/lab.sh, as root): separate machines, each with its own address,
// Docker engine and Gary daemon at its defaults, R replicas spread over them. Runs alternate:
//   power off a machine (silent: daemon, engine and containers gone at once, no RST), time until R
//   run again on the others; then boot it, and the fewest replicas running until all settles;
//   cut the cable of a machine that holds replicas (silent; it keeps its containers; the booted one
//   holds none), time until R run on the others; then
//   heal it, and the time until the duplicates are gone.
// Counts are read from every machine's engine every 25 ms; the time until R run again, from the
// survivors' engines' `start` events.
//
// --trace prints, per run, each survivor's steps after the loss (ms after it): the victim seen dead
// (its own verdict or a witness's report), its slots claimed, started, running, as its log says,
// and its engine's `create` events.
//
// --logs DIR keeps each machine's daemon log there (m1.log...) when the lab goes down.
//
//   npm run bench:lab-failover -- [--machines 5] [--replicas 10] [--runs 10] [--trace] [--logs DIR]
import { copyFile, mkdir } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { LABELS } from '../packages/node/dist/reconcile/container-labels.js'
import { TEST_IMAGE } from '../packages/runtime/dist/test-image.js'
import { allAlive, applyThroughApi, census, garyLab, sleep, stats } from './lab-common.mjs'

const { values } = parseArgs({
  options: {
    machines: { type: 'string', default: '5' },
    replicas: { type: 'string', default: '10' },
    runs: { type: 'string', default: '10' },
    trace: { type: 'boolean', default: false },
    logs: { type: 'string' },
  },
})
const machines = Number(values.machines)
const replicas = Number(values.replicas)
const runs = Number(values.runs)
const WORKLOAD = { [LABELS.workload]: 'bench' }
const POLL_MS = 25
/** A settled cluster holds R, with no duplicate, for this long. */
const HOLD_MS = 5000

const lab = await garyLab(machines)

/**
 * Polls the engines of `asked()` until `until(census)` has held for `holdMs`; returns when it
 * first held (ms after `since`), and the fewest distinct slots and most containers seen meanwhile.
 */
async function watch({ asked, until, since, holdMs = 0, timeoutMs = 120_000, what }) {
  let fewest = Number.POSITIVE_INFINITY
  let most = 0
  let metAt
  for (;;) {
    const now = Date.now()
    const seen = await census(lab, asked(), WORKLOAD)
    fewest = Math.min(fewest, seen.slots)
    most = Math.max(most, seen.total)
    if (await until(seen)) {
      metAt ??= now
      if (now - metAt >= holdMs) return { ms: metAt - since, fewest, most }
    } else metAt = undefined
    if (now - since > timeoutMs)
      throw new Error(
        `${what}: not within ${timeoutMs} ms (last: ${seen.total} running, ${seen.slots} slots)`,
      )
    await sleep(POLL_MS)
  }
}

/**
 * R running on `survivors` again after a loss at `since`: when the last slot missing there
 * started, by the `start` events of their engines (the engine's own clock, which the lab's
 * machines share with this host), ms after `since`. Listing four engines every 25 ms loaded them
 * (and the host's two cores) while they started the replacements; a subscription costs nothing
 * meanwhile. Call `listen()` before the loss, then `restored()`; a census confirms the count.
 */
function startsOn(survivors) {
  const abort = new AbortController()
  const started = new Map()
  // Each survivor's engine's `create` events, for --trace.
  const created = new Map(survivors.map((i) => [i, []]))
  const before = census(lab, survivors, WORKLOAD)
  for (const i of survivors)
    (async () => {
      for await (const event of lab.engine(i).events(WORKLOAD, abort.signal)) {
        const slot = event.labels[LABELS.slot]
        if (event.kind === 'create') created.get(i).push(event.at)
        if (event.kind === 'start' && slot !== undefined && !started.has(slot)) started.set(slot, event.at)
      }
    })().catch(() => {})
  return {
    created,
    async restored(since, what, timeoutMs = 120_000) {
      try {
        const kept = (await before).slotSet
        for (;;) {
          const slots = new Set([...kept, ...started.keys()])
          if (slots.size >= replicas) {
            const seen = await census(lab, survivors, WORKLOAD)
            if (seen.slots === replicas) {
              const last = Math.max(since, ...[...started].filter(([s]) => !kept.has(s)).map(([, at]) => at))
              return { ms: last - since }
            }
          }
          if (Date.now() - since > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
          await sleep(100)
        }
      } finally {
        abort.abort()
      }
    },
  }
}

/**
 * When the survivors' daemons logged the victim dead (its own `member dead` verdict or a witness's
 * report that made it dead), ms after `since`: the first survivor and the last. R may run again
 * before a survivor that plays no part in it sees the victim dead, so this waits (up to 10 s) for
 * every survivor's line; one that never came counts as -1 for both.
 * Read from the daemons' log lines, which a loaded host distorts less than container starts.
 */
async function detection(victimId, survivors, since) {
  const deadline = Date.now() + 10_000
  for (;;) {
    const times = []
    for (const i of survivors) {
      const line = (await lab.logs(i)).find((l) => isDeath(l, victimId) && l.time >= since)
      if (line !== undefined) times.push(line.time - since)
    }
    if (times.length === survivors.length) return { first: Math.min(...times), last: Math.max(...times) }
    if (Date.now() > deadline) return { first: -1, last: -1 }
    await sleep(100)
  }
}

const isDeath = (l, victimId) =>
  l.member === victimId &&
  (l.msg === 'member dead' || l.msg === 'member reported down') &&
  typeof l.time === 'number'

/**
 * Each survivor's steps after a loss at `since` (ms after it, from its log): the victim seen dead
 * (`dead`, `(report)` when by witnesses' reports), its own accusation, the reports its last heartbeat
 * from the victim held back, its claims, starts and containers running; with the bench's own poll
 * that first saw R, and when the lab's command returned.
 */
async function trace(what, victimId, survivors, since, seenMs, doneMs, created) {
  const rows = []
  for (const i of survivors) {
    const lines = (await lab.logs(i)).filter((l) => typeof l.time === 'number' && l.time >= since)
    const at = (pick) => lines.filter(pick).map((l) => l.time - since)
    const dead = lines.find((l) => isDeath(l, victimId))
    const mine = (msg) => (l) => l.workload === 'bench' && msg(l.msg)
    const list = (xs) => (xs.length === 0 ? '-' : xs.join(','))
    rows.push(
      `m${i}: ${dead === undefined ? 'dead -' : `dead ${dead.time - since}${dead.msg === 'member dead' ? '' : ' (report)'}`}` +
        ` accused ${list(at((l) => l.member === victimId && l.msg === 'member silent: accusing'))}` +
        ` held back ${list(at((l) => l.member === victimId && l.msg?.endsWith('held back by its last heartbeat')))}` +
        ` claimed ${list(at(mine((m) => m === 'claimed')))}` +
        ` created ${list((created.get(i) ?? []).filter((t) => t >= since).map((t) => t - since))}` +
        ` starting ${list(at(mine((m) => m?.endsWith(': starting'))))}` +
        ` running ${list(at(mine((m) => m === 'running')))}`,
    )
  }
  console.log(
    `  ${what} trace (ms; lab.sh done at ${doneMs}, R by the engines' start events at ${seenMs}): ${rows.join(' | ')}`,
  )
}

const exact = (seen) => seen.total === replicas && seen.slots === replicas
const warm = async (i, mark) =>
  (await lab.logs(i)).slice(mark).some((line) => line.msg === 'view complete: taking new work')

/** R running, one per slot, every machine alive everywhere, and it holds. */
async function settled(what, extra = async () => true) {
  return watch({
    asked: () => lab.machines,
    until: async (seen) => exact(seen) && (await extra()) && (await allAlive(lab)),
    since: Date.now(),
    holdMs: HOLD_MS,
    what,
  })
}

/**
 * A machine other than 1 that holds the most replicas, the next one from `turn` among equals: a
 * victim that holds none measures nothing.
 */
async function holder(turn) {
  const candidates = lab.machines.slice(1)
  const held = await Promise.all(candidates.map(async (i) => (await census(lab, [i], WORKLOAD)).total))
  const most = Math.max(...held)
  for (let k = 0; k < candidates.length; k++) {
    const at = (turn + k) % candidates.length
    if (held[at] === most) return candidates[at]
  }
  return candidates[0]
}

const results = {
  powerSeen: [],
  cutSeen: [],
  power: [],
  boot: [],
  bootMost: [],
  cut: [],
  heal: [],
  healMost: [],
}
try {
  await applyThroughApi(
    lab,
    1,
    `name: bench\nimage: ${TEST_IMAGE}\ncommand: [sleep, "3600"]\nreplicas: ${replicas}\nresources: {cpu: 50m, memory: 16Mi}\n`,
  )
  await settled('the first deploy')

  for (let run = 0; run < runs; run++) {
    // Machine 1 answers the API calls; the others take turns, among those that hold the most.
    const victim = await holder(run)
    const others = lab.machines.filter((i) => i !== victim)

    const lostPower = (await census(lab, [victim], WORKLOAD)).total
    const victimId = await lab.nodeId(victim)
    const powerStarts = startsOn(others)
    let since = Date.now()
    await lab.poweroff(victim)
    const powerDone = Date.now() - since
    const power = await powerStarts.restored(
      since,
      `R running on the others after machine ${victim} lost power`,
    )
    const powerSeen = await detection(victimId, others, since)
    if (values.trace)
      await trace('power off', victimId, others, since, power.ms, powerDone, powerStarts.created)
    const mark = (await lab.logs(victim)).length
    since = Date.now()
    await lab.boot(victim)
    const boot = await watch({
      asked: () => lab.machines,
      until: async (seen) => exact(seen) && (await warm(victim, mark)) && (await allAlive(lab)),
      since,
      holdMs: HOLD_MS,
      what: `R running, no duplicate, after machine ${victim} booted`,
    })
    results.power.push(power.ms)
    results.boot.push(boot.fewest)
    results.bootMost.push(boot.most)

    // A booted machine holds nothing (its slots run elsewhere now): cut one that holds slots.
    const cutOff = await holder(run)
    const lostCut = (await census(lab, [cutOff], WORKLOAD)).total
    const cutId = await lab.nodeId(cutOff)
    const cutStarts = startsOn(lab.machines.filter((i) => i !== cutOff))
    since = Date.now()
    await lab.cut(cutOff)
    const cutDone = Date.now() - since
    const cut = await cutStarts.restored(
      since,
      `R running on the others after machine ${cutOff}'s cable was cut`,
    )
    const cutSeen = await detection(
      cutId,
      lab.machines.filter((i) => i !== cutOff),
      since,
    )
    if (values.trace)
      await trace(
        'cut',
        cutId,
        lab.machines.filter((i) => i !== cutOff),
        since,
        cut.ms,
        cutDone,
        cutStarts.created,
      )
    since = Date.now()
    await lab.heal(cutOff)
    const heal = await watch({
      asked: () => lab.machines,
      until: exact,
      since,
      what: `the duplicates gone after machine ${cutOff}'s cable came back`,
    })
    await settled(`the cluster to settle after the heal of machine ${cutOff}`)
    results.powerSeen.push(powerSeen.last)
    results.cutSeen.push(cutSeen.last)
    results.cut.push(cut.ms)
    results.heal.push(heal.ms)
    results.healMost.push(heal.most)
    console.log(
      `run ${run + 1}: power off machine ${victim} (${lostPower} lost) -> seen dead after ${powerSeen.first}-${powerSeen.last} ms, ${replicas} running after ${power.ms} ms; boot: fewest ${boot.fewest}, most ${boot.most}; cut machine ${cutOff} (${lostCut} lost) -> seen dead after ${cutSeen.first}-${cutSeen.last} ms, ${replicas} running after ${cut.ms} ms; heal: duplicates gone after ${heal.ms} ms (most ${heal.most})`,
    )
  }

  console.log()
  console.log(`${machines} machines, ${replicas} replicas, ${runs} runs each (min / median / max):`)
  console.log('| | min / median / max |')
  console.log('| --- | --- |')
  console.log(`| power off -> seen dead by every survivor (daemons' logs) | ${stats(results.powerSeen)} ms |`)
  console.log(`| cable cut -> seen dead by every survivor (daemons' logs) | ${stats(results.cutSeen)} ms |`)
  console.log(`| power off -> ${replicas} running on the others | ${stats(results.power)} ms |`)
  console.log(`| cable cut -> ${replicas} running on the others | ${stats(results.cut)} ms |`)
  console.log(`| fewest running during a boot | ${stats(results.boot)} |`)
  console.log(`| most running during a boot | ${stats(results.bootMost)} |`)
  console.log(`| heal -> duplicates gone | ${stats(results.heal)} ms |`)
  console.log(`| most running during a heal | ${stats(results.healMost)} |`)
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  )
} finally {
  if (values.logs !== undefined) {
    await mkdir(values.logs, { recursive: true })
    for (const i of lab.machines)
      await copyFile(`${lab.rootDir(i)}/../gary.log`, `${values.logs}/m${i}.log`).catch(() => {})
  }
  await lab.down()
}
