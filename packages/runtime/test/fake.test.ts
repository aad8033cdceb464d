import { describe, expect, test } from 'vitest'
import {
  type ContainerRuntime,
  FailingRuntime,
  FakeRuntime,
  type LogLine,
  type RuntimeEvent,
  STOP_EXIT_CODE,
  type Timers,
} from '../src/index.js'
import { failure, runtimeCompliance, waitFor } from './compliance.js'

const IMAGE = 'gary/busybox:test'

runtimeCompliance('fake', async () => {
  const runtime = new FakeRuntime({ images: [IMAGE] })
  return {
    runtime,
    image: IMAGE,
    missingImage: 'gary/missing:1',
    cleanup: () => runtime.close(),
    hostDir: '/srv/fake',
    writeHostFile: async (path, content) => runtime.writeHostFile(path, content),
    readHostFile: async (path) => runtime.readHostFile(path),
  }
})

describe('FailingRuntime', () => {
  test('every call fails with RuntimeUnavailableError', async () => {
    const runtime: ContainerRuntime = new FailingRuntime()
    const spec = { name: 'x', image: IMAGE, labels: {} }
    const calls: (() => Promise<unknown>)[] = [
      () => runtime.info(),
      () => runtime.ensureImage(IMAGE),
      () => runtime.create(spec),
      () => runtime.start('x'),
      () => runtime.run(spec),
      () => runtime.stop('x'),
      () => runtime.remove('x'),
      () => runtime.list({}),
      () => runtime.inspect('x'),
      () => drain(runtime.events({}, new AbortController().signal)),
      () => drain(runtime.logs('x')),
    ]
    for (const call of calls) {
      const err = await failure(call())
      expect(err.name).toBe('RuntimeUnavailableError')
      expect(err.message).toContain('/var/run/docker.sock')
      expect(err.message).toContain('scripts/ensure-docker.sh')
    }
    await runtime.close()
  })
})

describe('FakeRuntime', () => {
  test('is deterministic: equal calls on a stepped clock give equal results', async () => {
    const scenario = async () => {
      let t = 1_700_000_000_000
      const runtime = new FakeRuntime({ restartDelayMs: 0 }, { now: () => (t += 1000) })
      const controller = new AbortController()
      const events: RuntimeEvent[] = []
      const consumed = (async () => {
        for await (const e of runtime.events({ app: 'a' }, controller.signal)) events.push(e)
      })()
      const spec = { image: IMAGE, labels: { app: 'a' }, ports: [{ containerPort: 80 }] }
      const a = await runtime.run({ ...spec, name: 'a', restart: { policy: 'on-failure', maxRetries: 1 } })
      const b = await runtime.run({ ...spec, name: 'b', command: ['sh', '-c', 'echo hi; sleep 1000'] })
      await runtime.crash(a.id, 3)
      await runtime.crash(a.id, 3)
      await runtime.stop(b.id)
      runtime.appendLog(a.id, 'late line')
      const result = {
        list: await runtime.list({ app: 'a' }),
        a: await runtime.inspect(a.id),
        b: await runtime.inspect(b.id),
        logs: await drain(runtime.logs(b.id)),
      }
      await waitFor('the last event', async () => events.some((e) => e.kind === 'stop'))
      controller.abort()
      await consumed
      await runtime.close()
      return { ...result, events }
    }
    const first = await scenario()
    expect(await scenario()).toEqual(first)
    expect(first.a).toMatchObject({ state: 'exited', exitCode: 3, restartCount: 1 })
    expect(first.b).toMatchObject({ state: 'exited', exitCode: STOP_EXIT_CODE })
    expect(first.events.map((e) => e.kind)).toEqual([
      'create',
      'start',
      'create',
      'start',
      'die',
      'start',
      'die',
      'die',
      'stop',
    ])
  })

  test('crash applies the restart policy; stop never restarts', async () => {
    const runtime = new FakeRuntime({ restartDelayMs: 0 })
    const c = await runtime.run({ name: 'c', image: IMAGE, labels: {}, restart: { policy: 'always' } })
    await runtime.crash(c.id, 0)
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'running', restartCount: 1 })
    await runtime.stop(c.id)
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'exited', restartCount: 1 })
    await runtime.close()
  })

  test('images: any by default; a given set, pulled from a fake registry', async () => {
    const open = new FakeRuntime()
    await open.ensureImage('nginx')
    const strict = new FakeRuntime({ images: ['busybox'], registry: ['nginx:1.27'] })
    await strict.ensureImage('busybox:latest')
    expect((await failure(strict.run({ name: 'n', image: 'nginx:1.27', labels: {} }))).name).toBe(
      'ImagePullError',
    )
    await strict.ensureImage('nginx:1.27')
    await strict.run({ name: 'n', image: 'nginx:1.27', labels: {} })
    const err = await failure(strict.ensureImage('gary/missing:1'))
    expect(err.name).toBe('ImagePullError')
    expect(err.message).toBe(
      'image gary/missing:1 is not present and could not be pulled: not found in the fake registry',
    )
    await open.close()
    await strict.close()
  })

  test('sh -c scripts: quoting, expansion, stderr and exit codes', async () => {
    const runtime = new FakeRuntime()
    const c = await runtime.run({
      name: 's',
      image: IMAGE,
      labels: {},
      env: { A: 'x y', B: 'z' },
      command: ['sh', '-c', `echo "$A" '$B' \${B}s; echo err >&2; # comment\n false; exit`],
    })
    expect(await drain(runtime.logs(c.id))).toEqual([
      { stream: 'stdout', line: 'x y $B zs' },
      { stream: 'stderr', line: 'err' },
    ])
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'exited', exitCode: 1 })
    await runtime.close()
  })

  test('appendLog reaches a follower; close ends it', async () => {
    const runtime = new FakeRuntime()
    const c = await runtime.run({ name: 'f', image: IMAGE, labels: {}, command: ['server'] })
    const seen: LogLine[] = []
    const following = (async () => {
      for await (const line of runtime.logs(c.id, { follow: true })) seen.push(line)
    })()
    runtime.appendLog(c.id, 'one')
    runtime.appendLog(c.id, 'two', 'stderr')
    await waitFor('both lines', async () => seen.length === 2)
    await runtime.close()
    await following
    expect(seen).toEqual([
      { stream: 'stdout', line: 'one' },
      { stream: 'stderr', line: 'two' },
    ])
  })
})

describe('FakeRuntime for a simulator: injected timers, slow and failing starts', () => {
  test('startDelayMs: start and run resolve after the delay on the timers; created meanwhile', async () => {
    const timers = new ManualTimers()
    const runtime = new FakeRuntime({ startDelayMs: 500 }, { timers, now: () => timers.now })
    const c = await runtime.create({ name: 'slow', image: IMAGE, labels: {}, ports: [{ containerPort: 80 }] })
    let started = false
    const starting = runtime.start(c.id).then(() => {
      started = true
    })
    await flush()
    expect(timers.pending).toBe(1)
    timers.advance(499)
    await flush()
    expect(started).toBe(false)
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'created', ports: [] })
    timers.advance(1)
    await starting
    const details = await runtime.inspect(c.id)
    expect(details).toMatchObject({ state: 'running', startedAt: 500 })
    expect(details.ports).toHaveLength(1)
    expect(timers.pending).toBe(0)

    const running = runtime.run({ name: 'slow-run', image: IMAGE, labels: {} })
    await flush()
    expect((await runtime.list({})).map((s) => [s.name, s.state])).toEqual([
      ['slow-run', 'created'],
      ['slow', 'running'],
    ])
    timers.advance(500)
    expect(await running).toMatchObject({ name: 'slow-run', state: 'running' })
    await runtime.close()
  })

  test('delayed starts run one at a time, in the order asked; a cancelled one gives up its turn', async () => {
    const timers = new ManualTimers()
    const runtime = new FakeRuntime({ startDelayMs: 100 }, { timers, now: () => timers.now })
    const ended: string[] = []
    const controller = new AbortController()
    const start = (name: string, signal?: AbortSignal) =>
      runtime.run({ name, image: IMAGE, labels: {} }, signal).then(
        () => ended.push(`${name}@${timers.now}`),
        (err: Error) => ended.push(`${name} ${err.name}@${timers.now}`),
      )
    const all = Promise.all([start('a'), start('b', controller.signal), start('c'), start('d')])
    await flush()
    expect(timers.pending).toBe(1)
    controller.abort()
    await flush()
    for (let i = 0; i < 4; i++) {
      timers.advance(100)
      await flush()
    }
    await all
    expect(ended).toEqual(['b AbortError@0', 'a@100', 'c@200', 'd@300'])
    expect(timers.pending).toBe(0)
    await runtime.close()
  })

  test('a pending start: stop waits for it; its signal and close cancel it and clear its timer', async () => {
    const timers = new ManualTimers()
    const runtime = new FakeRuntime({ startDelayMs: 100 }, { timers, now: () => timers.now })
    const spec = (name: string) => ({ name, image: IMAGE, labels: {} })
    const state = async (id: string) => (await runtime.inspect(id)).state

    // As in Docker, a stop sent during a start waits for it, then stops the container.
    const a = await runtime.create(spec('a'))
    const starting = runtime.start(a.id)
    const stopping = runtime.stop(a.id)
    await flush()
    expect(await state(a.id)).toBe('created')
    timers.advance(100)
    await starting
    await stopping
    expect(await runtime.inspect(a.id)).toMatchObject({ state: 'exited', exitCode: STOP_EXIT_CODE })

    const b = await runtime.create(spec('b'))
    const controller = new AbortController()
    const aborted = failure(runtime.start(b.id, controller.signal))
    await flush()
    controller.abort()
    expect((await aborted).name).toBe('AbortError')
    expect(timers.pending).toBe(0)
    expect(await state(b.id)).toBe('created')

    // run removes a container whose start was cancelled, as it removes one that failed.
    const runController = new AbortController()
    const runAborted = failure(runtime.run(spec('r'), runController.signal))
    await flush()
    runController.abort()
    expect((await runAborted).name).toBe('AbortError')
    expect((await runtime.list({})).map((s) => s.name)).toEqual(['b', 'a'])

    const closing = failure(runtime.start(b.id))
    await flush()
    expect(timers.pending).toBe(1)
    await runtime.close()
    expect((await closing).name).toBe('AbortError')
    expect(timers.pending).toBe(0)
  })

  test('startFailureRate: a start fails when random draws below it; the container stays, run removes it', async () => {
    const draws = [0.2, 0.9, 0.1]
    const runtime = new FakeRuntime({ startFailureRate: 0.5 }, { random: () => draws.shift()! })
    const c = await runtime.create({ name: 'flaky', image: IMAGE, labels: {} })
    expect((await failure(runtime.start(c.id))).name).toBe('ContainerStartError')
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'created' })
    await runtime.start(c.id)
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'running' })
    expect((await failure(runtime.run({ name: 'flaky-run', image: IMAGE, labels: {} }))).name).toBe(
      'ContainerStartError',
    )
    expect((await runtime.list({})).map((s) => s.name)).toEqual(['flaky'])
    expect(draws).toEqual([])
    await runtime.close()

    // With a delay, the start fails at its end.
    const timers = new ManualTimers()
    const slow = new FakeRuntime({ startDelayMs: 50, startFailureRate: 1 }, { timers })
    const s = await slow.create({ name: 'slow', image: IMAGE, labels: {} })
    const failed = failure(slow.start(s.id))
    await flush()
    expect(await slow.inspect(s.id)).toMatchObject({ state: 'created' })
    timers.advance(50)
    expect((await failed).name).toBe('ContainerStartError')
    expect(await slow.inspect(s.id)).toMatchObject({ state: 'created' })
    await slow.close()
  })

  test('sleep and the restart delay run on the injected timers', async () => {
    const timers = new ManualTimers()
    const runtime = new FakeRuntime({ restartDelayMs: 100 }, { timers, now: () => timers.now })
    const c = await runtime.run({
      name: 'sleeper',
      image: IMAGE,
      labels: {},
      command: ['sh', '-c', 'sleep 2; exit 1'],
      restart: { policy: 'on-failure', maxRetries: 1 },
    })
    expect(timers.pending).toBe(1)
    timers.advance(1999)
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'running' })
    timers.advance(1)
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'restarting', exitCode: 1, finishedAt: 2000 })
    timers.advance(100)
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'running', restartCount: 1, startedAt: 2100 })
    timers.advance(2000)
    expect(await runtime.inspect(c.id)).toMatchObject({ state: 'exited', restartCount: 1, finishedAt: 4100 })
    expect(timers.pending).toBe(0)
    await runtime.close()
  })

  test('an instance sets no timer until a container needs one', async () => {
    let set = 0
    const timers: Timers = {
      setTimeout: () => ++set,
      clearTimeout: () => {},
    }
    const many = Array.from({ length: 10_000 }, () => new FakeRuntime({ startDelayMs: 10 }, { timers }))
    expect(set).toBe(0)
    await Promise.all(many.map((runtime) => runtime.close()))
    expect(set).toBe(0)
  })

  test('init out of range throws RangeError', () => {
    for (const init of [
      { startFailureRate: 1.5 },
      { startFailureRate: -0.1 },
      { startFailureRate: Number.NaN },
      { startDelayMs: -1 },
      { startDelayMs: Number.POSITIVE_INFINITY },
    ]) {
      expect(() => new FakeRuntime(init)).toThrow(RangeError)
    }
  })
})

/** Timers on a virtual clock that the test moves by hand, as a simulator would. */
class ManualTimers implements Timers {
  now = 0
  #next = 1
  readonly #due = new Map<number, { at: number; fn: () => void }>()

  setTimeout(fn: () => void, ms: number): number {
    const handle = this.#next++
    this.#due.set(handle, { at: this.now + ms, fn })
    return handle
  }

  clearTimeout(handle: unknown): void {
    this.#due.delete(handle as number)
  }

  get pending(): number {
    return this.#due.size
  }

  /** Moves the clock by `ms`, firing the timers that fall due in time order (ties: in order set). */
  advance(ms: number): void {
    const until = this.now + ms
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined
      for (const entry of this.#due) {
        if (entry[1].at <= until && (first === undefined || entry[1].at < first[1].at)) first = entry
      }
      if (first === undefined) break
      this.#due.delete(first[0])
      this.now = first[1].at
      first[1].fn()
    }
    this.now = until
  }
}

/** Lets pending promise callbacks run: no time passes on any clock. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}
