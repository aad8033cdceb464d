import {
  generationOf,
  normaliseWorkload,
  type Refusal,
  type SlotPromise,
  type Workload,
} from '@gary/protocol'
import { FakeRuntime } from '@gary/runtime'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import type { Clock } from '../src/clock/clock.js'
import { LABELS, slotLabels } from '../src/reconcile/container-labels.js'
import { Reconciler, type ReconcilerComponents, type ReconcileView } from '../src/reconcile/reconciler.js'
import { type SecretFiles, SecretUnavailableError } from '../src/reconcile/secret-files.js'

// The reconcile loop on one node, with the in-memory runtime and a clock the test moves by hand.

const SELF = 'node-a'

/** A stopped clock: time moves only when the test says, and due timers fire then. */
class ManualClock implements Clock {
  wall = 1_000_000
  #timers = new Map<number, { at: number; fn: () => void }>()
  #next = 0
  wallNow = () => this.wall
  now = () => this.wall
  setTimeout = (fn: () => void, ms: number) => {
    const id = ++this.#next
    this.#timers.set(id, { at: this.wall + ms, fn })
    return id
  }
  clearTimeout = (handle: unknown) => {
    this.#timers.delete(handle as number)
  }
  /** Moves time forward, firing due timers in order and letting their work finish. */
  async advance(ms: number): Promise<void> {
    const end = this.wall + ms
    for (;;) {
      await flush()
      const due = [...this.#timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0]
      if (due === undefined) break
      this.#timers.delete(due[0])
      this.wall = Math.max(this.wall, due[1].at)
      due[1].fn()
    }
    this.wall = end
    await flush()
  }
}

/** Lets every pending promise chain run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

function spec(fields: Record<string, unknown>): Workload {
  const parsed = normaliseWorkload({ image: 'gary/busybox:test', command: ['sleep', '3600'], ...fields })
  if (!parsed.ok) throw new Error(parsed.problems.join('; '))
  return parsed.workloads[0] as Workload
}

function setup(
  workloads: Workload[],
  runtime = new FakeRuntime(),
  init: Partial<ConstructorParameters<typeof Reconciler>[0]> = {},
  extra: Partial<ReconcilerComponents> = {},
  clock = new ManualClock(),
) {
  const published: { promises: SlotPromise[]; refusals: Refusal[]; seenDead: string[] | undefined }[] = []
  const view: ReconcileView = {
    workloads,
    others: [],
    self: { labels: {}, capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 }, draining: false },
    partialView: false,
    partialViewForMs: 0,
    warm: true,
  }
  const reconciler = new Reconciler(
    // Passes at once on a trigger: these tests follow the loop step by step.
    { resyncMs: 60_000, coalesceMs: 0, ...init },
    {
      self: SELF,
      runtime,
      logger: pino({ level: 'silent' }),
      clock,
      view: () => view,
      publish: (promises, refusals, seenDead) => published.push({ promises, refusals, seenDead }),
      ...extra,
    },
  )
  running.push(reconciler)
  return { clock, runtime, reconciler, view, published }
}

/** Healthy for 5 s, then its check fails: twice in a row makes it unhealthy. */
const sickSpec = (extra: Record<string, unknown> = {}) =>
  spec({
    name: 'sick',
    command: ['sh', '-c', 'echo yes > /tmp/ok; sleep 5; : > /tmp/ok; sleep 3600'],
    health: { command: ['sh', '-c', 'test -s /tmp/ok'], interval: '1s', timeout: '1s', retries: 2 },
    ...extra,
  })

/** Makes the reconciler look again at each engine event, as the daemon does; abort to stop. */
function triggerOnEvents(runtime: FakeRuntime, reconciler: Reconciler): AbortController {
  const watched = new AbortController()
  void (async () => {
    for await (const _ of runtime.events({}, watched.signal)) reconciler.trigger()
  })()
  return watched
}

/** Another live node that could claim any slot, though it has no room now. */
const rival = (): ReconcileView['others'][number] => ({
  id: 'node-b',
  labels: {},
  capacity: { cpuMillis: 0, memoryBytes: 0 },
  draining: false,
  promises: [],
  refusals: [],
})

/** Whether each container the runtime was asked to create starts before its CPU limit, by slot. */
function hurriedStarts(runtime: FakeRuntime): [number, boolean][] {
  const asked: [number, boolean][] = []
  const create = runtime.create.bind(runtime)
  runtime.create = (spec, signal) => {
    asked.push([Number(spec.labels[LABELS.slot]), spec.unthrottledStart === true])
    return create(spec, signal)
  }
  return asked
}

const running: Reconciler[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()))
})

const ownContainers = async (runtime: FakeRuntime) =>
  (await runtime.list({ [LABELS.node]: SELF })).filter((c) => c.state === 'running')

describe('the reconcile loop on one node', () => {
  test('claims a free slot, waits the settle delay, then starts its container', async () => {
    const { clock, runtime, reconciler, view } = setup([spec({ name: 'web', replicas: 2 })])
    view.others = [rival()]
    await reconciler.start()
    await clock.advance(0)
    expect(reconciler.promises.map((p) => p.phase)).toEqual(['claimed', 'claimed'])
    expect(await ownContainers(runtime)).toHaveLength(0)

    await clock.advance(299)
    expect(await ownContainers(runtime)).toHaveLength(0)
    await clock.advance(2)
    const containers = await ownContainers(runtime)
    expect(containers).toHaveLength(2)
    expect(reconciler.promises.map((p) => [p.slot, p.phase, p.ready])).toEqual([
      [0, 'running', true],
      [1, 'running', true],
    ])
    expect(reconciler.promises.map((p) => p.container).sort()).toEqual(containers.map((c) => c.id).sort())
  })

  test('the sole candidate for its slots starts them without the settle delay, and says so at once', async () => {
    // A global workload's slot is this node's alone; so is a slot no other node's labels match.
    const { clock, runtime, reconciler, view, published } = setup([
      spec({ name: 'agent', mode: 'global' }),
      spec({ name: 'db', constraints: { disk: 'ssd' } }),
      spec({ name: 'web' }),
    ])
    view.self.labels = { disk: 'ssd' }
    view.others = [rival()]
    await reconciler.start()
    await clock.advance(0)
    expect(reconciler.promises.map((p) => [p.workload, p.phase])).toEqual([
      ['agent', 'running'],
      ['db', 'running'],
      ['web', 'claimed'],
    ])
    expect((await ownContainers(runtime)).map((c) => c.labels[LABELS.workload]).sort()).toEqual([
      'agent',
      'db',
    ])
    expect(published.at(-1)?.promises.map((p) => p.phase)).toEqual(['running', 'running', 'claimed'])
  })

  test("a deploy's first claims start once every rival has claimed its share, before the settle delay; later ones settle", async () => {
    const web = spec({ name: 'web', replicas: 4 })
    const { clock, runtime, reconciler, view, published } = setup([web])
    const hurried = hurriedStarts(runtime)
    const claimOf = (slot: number): SlotPromise => ({
      workload: 'web',
      slot,
      generation: generationOf(web),
      phase: 'claimed',
      since: { wall: clock.wall, logical: 0 },
      ready: false,
      endpoints: [],
    })
    const b = { ...rival(), capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 } }
    view.others = [b]
    await reconciler.start()
    await clock.advance(0)
    const mine = reconciler.promises.map((p) => p.slot)
    expect(mine).toHaveLength(2)
    expect(reconciler.promises.map((p) => p.phase)).toEqual(['claimed', 'claimed'])
    // The rival's claims of the other two arrive 50 ms later: nobody else may claim, so they start.
    await clock.advance(50)
    b.promises = [0, 1, 2, 3].filter((slot) => !mine.includes(slot)).map(claimOf)
    reconciler.viewChanged()
    await clock.advance(0)
    expect(reconciler.promises.map((p) => p.phase)).toEqual(['running', 'running'])
    expect(await ownContainers(runtime)).toHaveLength(2)
    expect(published.at(-1)?.promises.map((p) => p.phase)).toEqual(['running', 'running'])

    // A scale-up claims while the rival holds the generation already: it waits out the delay.
    view.workloads = [spec({ name: 'web', replicas: 6 })]
    reconciler.viewChanged()
    await clock.advance(0)
    const added = reconciler.promises.filter((p) => p.slot >= 4)
    expect(added.map((p) => p.phase)).toEqual(['claimed'])
    b.promises = [...b.promises, ...[4, 5].filter((slot) => slot !== added[0]?.slot).map(claimOf)]
    reconciler.viewChanged()
    await clock.advance(100)
    expect(reconciler.promises.filter((p) => p.slot >= 4).map((p) => p.phase)).toEqual(['claimed'])
    await clock.advance(250)
    expect(reconciler.promises.filter((p) => p.slot >= 4).map((p) => p.phase)).toEqual(['running'])
    // Nothing was lost: every container takes its CPU limit at the creation, as docker run does.
    expect(hurried.map(([, h]) => h)).toEqual([false, false, false])
  })

  test("a dead member's slot starts once every rival has published that it saw the death, before the settle delay", async () => {
    const web = spec({ name: 'web', replicas: 3 })
    const runtime = new FakeRuntime()
    const { clock, reconciler, view, published } = setup([web], runtime)
    const hurried = hurriedStarts(runtime)
    const running = (slot: number): SlotPromise => ({
      workload: 'web',
      slot,
      generation: generationOf(web),
      phase: 'running',
      since: { wall: 42, logical: 0 },
      ready: true,
      endpoints: [],
    })
    // This node runs slot 1 (so its claims are no opening ones), B slot 0 with no room left, C slot 2.
    await runtime.run({
      name: 'mine',
      image: web.image,
      command: ['sleep', '3600'],
      labels: slotLabels(SELF, {
        workload: 'web',
        slot: 1,
        generation: generationOf(web),
        since: { wall: 42, logical: 1 },
      }),
    })
    const b = { ...rival(), capacity: web.resources, promises: [running(0)] }
    view.others = [b, { ...rival(), id: 'node-c', promises: [running(2)] }]
    await reconciler.start()
    await clock.advance(0)
    expect(reconciler.promises.map((p) => [p.slot, p.phase])).toEqual([[1, 'running']])

    // C dies: this node takes slot 2 and says it saw the death; B has not said so yet.
    const death = 'node-c@7.3'
    view.others = [b]
    view.deaths = () => [{ key: death, recent: true }]
    reconciler.viewChanged()
    await clock.advance(0)
    expect(reconciler.promises.map((p) => [p.slot, p.phase])).toEqual([
      [1, 'running'],
      [2, 'claimed'],
    ])
    expect(published.at(-1)?.seenDead).toEqual([death])
    await clock.advance(100)
    expect(reconciler.promises.find((p) => p.slot === 2)?.phase).toBe('claimed')

    // B's state says it saw the death too, and claims nothing of slot 2: no rival claim can come.
    b.seenDead = [death]
    reconciler.viewChanged()
    await clock.advance(0)
    expect(reconciler.promises.find((p) => p.slot === 2)?.phase).toBe('running')
    // A replica the cluster lost: its start goes before its CPU limit applies.
    expect(hurried).toEqual([[2, true]])
  })

  test('a claim that settles while the engine is still creating its container starts when the creation ends, without listing the engine meanwhile', async () => {
    // An engine slow to create (a loaded host: a second and more): the settled claim waits for it.
    class SlowCreate extends FakeRuntime {
      lists = 0
      release: (() => void) | undefined
      readonly #created = new Promise<void>((resolve) => {
        this.release = resolve
      })
      override async create(...args: Parameters<FakeRuntime['create']>) {
        await this.#created
        return super.create(...args)
      }
      override async list(...args: Parameters<FakeRuntime['list']>) {
        this.lists++
        return super.list(...args)
      }
    }
    const runtime = new SlowCreate()
    const { clock, reconciler, view } = setup([spec({ name: 'web', replicas: 2 })], runtime)
    view.others = [rival()]
    await reconciler.start()
    await clock.advance(0)
    expect(reconciler.promises.map((p) => p.phase)).toEqual(['claimed', 'claimed'])
    const listed = runtime.lists
    // The claims settle at 300 ms; the creations end at 1300 ms.
    await clock.advance(1300)
    expect(reconciler.promises.map((p) => p.phase)).toEqual(['claimed', 'claimed'])
    expect(
      runtime.lists - listed,
      'engine listings while the claims waited for their creation',
    ).toBeLessThanOrEqual(1)
    runtime.release?.()
    await clock.advance(0)
    expect(reconciler.promises.map((p) => p.phase)).toEqual(['running', 'running'])
    expect(await ownContainers(runtime)).toHaveLength(2)
  })

  test('a node held back by a partial view looks again on its own once the view is whole', async () => {
    // Rule 10's verdict moves with time and connections, which trigger nothing.
    const { clock, reconciler, view } = setup([spec({ name: 'web', replicas: 2 })])
    view.others = [rival()]
    view.partialView = true
    await reconciler.start()
    await clock.advance(0)
    expect(reconciler.promises).toEqual([])
    view.partialView = false
    await clock.advance(499)
    expect(reconciler.promises).toEqual([])
    await clock.advance(1)
    expect(reconciler.promises.map((p) => p.phase)).toEqual(['claimed', 'claimed'])
  })

  test('scales down by releasing the highest slots and removing their containers', async () => {
    const { clock, runtime, reconciler, view } = setup([spec({ name: 'web', replicas: 3 })])
    await reconciler.start()
    await clock.advance(400)
    expect(await ownContainers(runtime)).toHaveLength(3)

    view.workloads = [spec({ name: 'web', replicas: 1 })]
    reconciler.trigger()
    await clock.advance(0)
    expect(reconciler.promises.map((p) => p.slot)).toEqual([0])
    expect((await runtime.list({ [LABELS.node]: SELF })).map((c) => c.labels[LABELS.slot])).toEqual(['0'])
  })

  test('restarts a crashed container with a growing delay, then refuses the slot with the reason', async () => {
    const crashy = spec({ name: 'crashy', restart: { policy: 'always', maxRetries: 2 } })
    const { clock, runtime, reconciler } = setup([crashy])
    const hurried = hurriedStarts(runtime)
    await reconciler.start()
    await clock.advance(400)
    for (let crash = 0; crash < 3; crash++) {
      const [container] = await ownContainers(runtime)
      expect(container, `container before crash ${crash + 1}`).toBeDefined()
      await runtime.crash(container!.id, 3)
      reconciler.trigger()
      // Backoff 250 ms, then 500 ms: nothing runs before the delay is over.
      await clock.advance(0)
      if (crash < 2) {
        expect(await ownContainers(runtime)).toHaveLength(0)
        await clock.advance(250 * 2 ** crash)
        expect(await ownContainers(runtime)).toHaveLength(1)
      }
    }
    await clock.advance(0)
    // The first run took its limit at the creation; each restart, waited on, goes before it.
    expect(hurried).toEqual([
      [0, false],
      [0, true],
      [0, true],
    ])
    expect(reconciler.promises).toEqual([])
    expect(reconciler.refusals).toEqual([
      expect.objectContaining({ workload: 'crashy', reason: 'exited with code 3, 3 times in a row' }),
    ])
    expect(await runtime.list({ [LABELS.node]: SELF })).toEqual([])
  })

  test('refuses a slot whose image cannot be pulled, naming the image and the node', async () => {
    const runtime = new FakeRuntime({ images: [], registry: [] })
    const { clock, reconciler } = setup([spec({ name: 'ghost', image: 'gary/missing:1' })], runtime)
    await reconciler.start()
    await clock.advance(400)
    expect(reconciler.refusals.map((r) => r.reason)).toEqual([`image gary/missing:1 not found on ${SELF}`])
    expect(reconciler.promises).toEqual([])
    // Refused at this generation: the node does not claim it again...
    await clock.advance(5000)
    expect(reconciler.promises).toEqual([])
    expect(reconciler.unschedulable[0]?.reasons).toEqual([
      `${SELF} refused: image gary/missing:1 not found on ${SELF}`,
    ])
  })

  test('adopts its running containers on start and removes the strays, touching no other node’s', async () => {
    const runtime = new FakeRuntime()
    const web = spec({ name: 'web', replicas: 1 })
    const { clock, reconciler } = setup([web], runtime)
    const since = { wall: 42, logical: 1 }
    const kept = await runtime.run({
      name: 'kept',
      image: web.image,
      command: ['sleep', '3600'],
      labels: slotLabels(SELF, { workload: 'web', slot: 0, generation: generationOf(web), since }),
    })
    const stray = await runtime.run({
      name: 'stray',
      image: web.image,
      command: ['sleep', '3600'],
      labels: { [LABELS.node]: SELF, [LABELS.workload]: 'old' },
    })
    const foreign = await runtime.run({
      name: 'foreign',
      image: web.image,
      command: ['sleep', '3600'],
      labels: slotLabels('node-b', { workload: 'web', slot: 0, generation: generationOf(web), since }),
    })

    await reconciler.start()
    await clock.advance(1000)
    expect(reconciler.promises).toEqual([
      expect.objectContaining({ workload: 'web', slot: 0, phase: 'running', since, container: kept.id }),
    ])
    const ids = (await runtime.list({})).map((c) => c.id).sort()
    expect(ids).toEqual([kept.id, foreign.id].sort())
    expect(ids).not.toContain(stray.id)
  })

  test('a released slot that served published ports is published not ready, and stopped only after the drain', async () => {
    const web = spec({ name: 'web', ports: [{ container: 8080, published: 80 }] })
    const { clock, runtime, reconciler, view, published } = setup([web], new FakeRuntime(), {
      drainMs: 1000,
      containerDns: () => ['172.17.0.1'],
    })
    await reconciler.start()
    await clock.advance(301)
    const [running] = await ownContainers(runtime)
    expect(reconciler.promises[0]).toMatchObject({ phase: 'running', ready: true })
    expect(reconciler.promises[0]!.endpoints).toEqual([
      expect.stringMatching(/^127\.0\.0\.1:\d+->8080\/tcp$/),
    ])
    // Containers are given the node's name server.
    expect((await runtime.inspect(running!.id)).dns).toEqual(['172.17.0.1'])

    view.workloads = []
    reconciler.viewChanged()
    await clock.advance(1)
    expect(published.at(-1)!.promises).toMatchObject([{ workload: 'web', phase: 'releasing', ready: false }])
    await clock.advance(990)
    expect(await ownContainers(runtime)).toHaveLength(1)
    await clock.advance(20)
    expect(await ownContainers(runtime)).toHaveLength(0)
    expect(reconciler.promises).toEqual([])
  })

  test('a released slot that served published ports is stopped only once every mesh has taken it out of rotation', async () => {
    const web = spec({ name: 'web', ports: [{ container: 8080, published: 80 }] })
    const asked: { workload: string; slot: number; container: string }[] = []
    let confirm = () => {}
    const outOfRotation = (slot: (typeof asked)[number]) => {
      asked.push(slot)
      return new Promise<void>((resolve) => {
        confirm = resolve
      })
    }
    const { clock, runtime, reconciler, view } = setup(
      [web],
      new FakeRuntime(),
      { drainMs: 1000 },
      { outOfRotation },
    )
    await reconciler.start()
    await clock.advance(301)
    const [running] = await ownContainers(runtime)
    view.workloads = []
    reconciler.viewChanged()
    await clock.advance(1)
    expect(asked).toEqual([{ workload: 'web', slot: 0, container: running!.id }])
    // The drain's time is over, but a mesh still sends the slot connections.
    await clock.advance(5000)
    expect(await ownContainers(runtime)).toHaveLength(1)
    expect(reconciler.promises).toMatchObject([{ phase: 'releasing', ready: false }])
    confirm()
    await clock.advance(1)
    expect(await ownContainers(runtime)).toHaveLength(0)
    expect(reconciler.promises).toEqual([])
  })

  test('a slot that published no port is released at once', async () => {
    const { clock, runtime, reconciler, view } = setup([spec({ name: 'job' })], new FakeRuntime(), {
      drainMs: 1000,
    })
    await reconciler.start()
    await clock.advance(301)
    expect(await ownContainers(runtime)).toHaveLength(1)
    view.workloads = []
    reconciler.viewChanged()
    await clock.advance(1)
    expect(await ownContainers(runtime)).toHaveLength(0)
  })

  test('an unhealthy container is stopped and restarted in a new one, the failed one kept; restarting until it settles', async () => {
    const clock = new ManualClock()
    const runtime = new FakeRuntime({}, { timers: clock, now: clock.wallNow })
    const sick = sickSpec()
    const { reconciler, published } = setup([sick], runtime, {}, {}, clock)
    const watched = triggerOnEvents(runtime, reconciler)
    try {
      await reconciler.start()
      await clock.advance(1500)
      expect(reconciler.promises).toMatchObject([{ phase: 'running', ready: true }])
      const first = reconciler.promises[0]!.container
      for (let ms = 0; reconciler.promises[0]?.unhealthy !== true; ms += 50) {
        if (ms > 20_000) throw new Error('the container never turned unhealthy, or was not restarted for it')
        await clock.advance(50)
      }
      // Turned unhealthy: stopped, kept, and a new container waits out the backoff.
      expect(reconciler.promises).toMatchObject([
        { phase: 'restarting', ready: false, restarts: 1, unhealthy: true },
      ])
      expect(reconciler.previousOf('sick', 0)).toBe(first)
      await clock.advance(300)
      const second = reconciler.promises[0]!.container
      expect(second).not.toBe(first)
      // Running, but not ready before its check passes and it has run a second.
      expect(reconciler.promises).toMatchObject([{ phase: 'restarting', ready: false }])
      await clock.advance(2100)
      expect(reconciler.promises).toMatchObject([
        { phase: 'running', ready: true, restarts: 1, container: second },
      ])
      const all = await runtime.list({ [LABELS.node]: SELF })
      expect(all.map((c) => [c.id, c.state]).sort()).toEqual(
        [
          [first, 'exited'],
          [second, 'running'],
        ].sort(),
      )
      // Every state published between the failure and the settle said restarting, never running.
      const shown = published.map((p) => p.promises[0]).filter((p) => p !== undefined)
      const failedAt = shown.findIndex((p) => p.unhealthy === true)
      const settledAt = shown.findIndex((p, i) => i > failedAt && p.phase === 'running')
      expect(shown.slice(failedAt, settledAt).every((p) => p.phase === 'restarting' && !p.ready)).toBe(true)
    } finally {
      watched.abort()
    }
  })

  test('an unhealthy container that served a published port is stopped only once every mesh has taken it out of rotation', async () => {
    const clock = new ManualClock()
    const runtime = new FakeRuntime({}, { timers: clock, now: clock.wallNow })
    const sick = sickSpec({ ports: [{ container: 8080, published: 80 }] })
    const asked: string[] = []
    let confirm = () => {}
    const outOfRotation = ({ container }: { container: string }) => {
      asked.push(container)
      return new Promise<void>((resolve) => {
        confirm = resolve
      })
    }
    const { reconciler } = setup([sick], runtime, { drainMs: 1000 }, { outOfRotation }, clock)
    const watched = triggerOnEvents(runtime, reconciler)
    try {
      await reconciler.start()
      await clock.advance(1500)
      expect(reconciler.promises).toMatchObject([{ phase: 'running', ready: true }])
      const first = reconciler.promises[0]!.container!
      for (let ms = 0; reconciler.promises[0]?.ready !== false; ms += 50) {
        if (ms > 20_000) throw new Error('the container never turned unhealthy')
        await clock.advance(50)
      }
      // Published not ready, and still running while a mesh sends it connections.
      expect(asked).toEqual([first])
      await clock.advance(5000)
      const state = async () =>
        (await runtime.list({ [LABELS.node]: SELF })).find((c) => c.id === first)?.state
      expect(await state()).toBe('running')
      expect(reconciler.promises).toMatchObject([{ phase: 'restarting', ready: false }])
      confirm()
      await clock.advance(50)
      expect(await state()).toBe('exited')
      expect(reconciler.promises).toMatchObject([{ phase: 'restarting', ready: false, unhealthy: true }])
    } finally {
      watched.abort()
    }
  })

  test('a crash loop is published restarting between attempts, never running; one exited container is kept', async () => {
    const crashy = spec({
      name: 'loop',
      command: ['sh', '-c', 'echo boom; exit 3'],
      restart: { policy: 'always', maxRetries: 4 },
    })
    const retained: string[] = []
    const { clock, runtime, reconciler, published } = setup(
      [crashy],
      new FakeRuntime(),
      {},
      {
        retainLogs: async ({ container }) => {
          retained.push(container)
        },
      },
    )
    await reconciler.start()
    await clock.advance(400)
    for (let attempt = 1; attempt <= 4; attempt++) {
      reconciler.trigger()
      await clock.advance(0)
      expect(reconciler.promises, `after exit ${attempt}`).toMatchObject([
        { phase: 'restarting', ready: false, restarts: attempt, exitCode: 3 },
      ])
      // The failed container and the one before it: never more than one kept.
      expect((await runtime.list({ [LABELS.node]: SELF })).length).toBeLessThanOrEqual(2)
      await clock.advance(250 * 2 ** (attempt - 1))
    }
    reconciler.trigger()
    await clock.advance(0)
    const firstExit = published.findIndex((p) => p.promises[0]?.exitCode === 3)
    expect(firstExit).toBeGreaterThan(-1)
    for (const state of published.slice(firstExit))
      for (const promise of state.promises) expect(promise.phase === 'running' && promise.ready).toBe(false)
    // Refused after the budget: its last container's logs were kept before it was removed.
    expect(reconciler.refusals).toMatchObject([
      { workload: 'loop', reason: 'exited with code 3, 5 times in a row' },
    ])
    expect(retained).toHaveLength(1)
    expect(await runtime.list({ [LABELS.node]: SELF })).toEqual([])
  })

  test('a rollout slot whose check never passes within its budget fails the rollout, even if the engine says nothing', async () => {
    const clock = new ManualClock()
    // An engine that never gives a verdict: only the budget can end the wait.
    class Mute extends FakeRuntime {
      override async list(labels: Record<string, string>, signal?: AbortSignal) {
        return (await super.list(labels, signal)).map(({ health: _, ...c }) => c)
      }
    }
    const runtime = new Mute({}, { timers: clock, now: clock.wallNow })
    const v1 = spec({ name: 'app', env: { V: '1' } })
    const v2 = spec({
      name: 'app',
      env: { V: '2' },
      health: { command: ['true'], interval: '1s', timeout: '1s', retries: 2 },
    })
    const failures: { reason: string }[] = []
    const { reconciler, view } = setup([v1], runtime, {}, { onRolloutFailed: (f) => failures.push(f) }, clock)
    await reconciler.start()
    await clock.advance(400)
    expect(reconciler.promises).toMatchObject([
      { phase: 'running', ready: true, generation: generationOf(v1) },
    ])
    view.workloads = [v2]
    reconciler.trigger()
    for (let ms = 0; failures.length === 0; ms += 100) {
      if (ms > 30_000)
        throw new Error(
          `the rollout never failed for a slot that never turned ready: ${JSON.stringify(reconciler.promises)}`,
        )
      await clock.advance(100)
    }
    // (2 + 1) checks of at most 1 s + 1 s each.
    expect(failures).toMatchObject([
      { reason: 'unhealthy: not ready within 6 s (its health check never passed)' },
    ])
    expect(reconciler.refusals).toMatchObject([
      { workload: 'app', generation: generationOf(v2), rollout: true },
    ])
  })

  test('a restarted container seen running in an old listing is not shown settled once it has died', async () => {
    const crashy = spec({ name: 'once', restart: { policy: 'always', maxRetries: 5 } })
    const { clock, runtime, reconciler, published } = setup([crashy])
    await reconciler.start()
    await clock.advance(400)
    await runtime.crash((await ownContainers(runtime))[0]!.id, 1)
    const crashedAt = clock.wall
    reconciler.trigger()
    // Restarted after the 250 ms backoff, and listed running.
    await clock.advance(300)
    reconciler.trigger()
    await clock.advance(0)
    expect(reconciler.promises).toMatchObject([{ phase: 'restarting', ready: false, restarts: 1 }])
    // It dies with no event to say so; gossip makes the loop look again, with that listing, the
    // moment the restarted container would have run a second.
    await clock.advance(crashedAt + 250 + 999 - clock.wall)
    await runtime.crash((await ownContainers(runtime))[0]!.id, 1)
    await clock.advance(1)
    reconciler.viewChanged()
    await clock.advance(0)
    expect(published.at(-1)?.promises.some((p) => p.phase === 'running' && p.ready)).toBe(false)
    expect(reconciler.promises.some((p) => p.phase === 'running' && p.ready)).toBe(false)
  })
})

describe('secrets and registry logins in the reconcile loop', () => {
  const image = 'registry.example:5000/team/app:1'
  const locked = () =>
    new FakeRuntime({
      images: [],
      registry: [image],
      logins: { 'registry.example:5000': { username: 'robot', password: 'token' } },
    })

  test('a pull the registry refuses for credentials refuses the slot, saying so; with the login it runs', async () => {
    const refused = setup([spec({ name: 'app', image })], locked())
    await refused.reconciler.start()
    await refused.clock.advance(400)
    expect(refused.published.at(-1)?.refusals.map((r) => r.reason)).toEqual([
      expect.stringMatching(
        /the registry registry\.example:5000 refused the credentials \(.*\): run gary login registry\.example:5000/,
      ),
    ])

    const login = { username: 'robot', password: 'token', serveraddress: 'registry.example:5000' }
    const allowed = setup([spec({ name: 'app', image })], locked(), {}, { registryAuth: () => login })
    await allowed.reconciler.start()
    await allowed.clock.advance(400)
    expect(await ownContainers(allowed.runtime)).toHaveLength(1)
  })

  test("a slot's secrets are written before its container is made and forgotten with it; one that cannot be had refuses the slot at once", async () => {
    const written: string[] = []
    const released: string[] = []
    const files: SecretFiles = {
      write: async (workload, container) => {
        if (workload.secrets?.some((s) => s.name === 'missing'))
          throw new SecretUnavailableError(
            'secret missing does not exist: create it with gary secret create missing -f FILE',
          )
        written.push(container)
        return [{ source: `/dev/shm/x/${container}/db`, target: '/run/secrets/db' }]
      },
      release: async (container) => {
        released.push(container)
      },
    }
    const { clock, runtime, reconciler, view, published } = setup(
      [spec({ name: 'app', secrets: ['db'] }), spec({ name: 'lost', secrets: ['missing'] })],
      new FakeRuntime(),
      {},
      { secretFiles: files },
    )
    await reconciler.start()
    await clock.advance(400)
    const [container] = await ownContainers(runtime)
    // Written for the create, and again before the start (a start in place finds them again).
    expect(new Set(written)).toEqual(new Set([container!.name]))
    expect(published.at(-1)?.refusals).toEqual([
      expect.objectContaining({
        workload: 'lost',
        reason: expect.stringContaining('secret missing does not exist'),
      }),
    ])
    // Refused at the first try, no restart budget spent: the secret is missing on every node alike.
    expect(reconciler.promises.map((p) => p.workload)).toEqual(['app'])

    view.workloads = []
    reconciler.trigger()
    await clock.advance(10)
    expect(await runtime.list({ [LABELS.node]: SELF })).toEqual([])
    expect(released).toContain(container!.name)
  })
})
