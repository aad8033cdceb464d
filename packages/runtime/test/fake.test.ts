import { describe, expect, test } from 'vitest'
import {
  type ContainerRuntime,
  FailingRuntime,
  FakeRuntime,
  type LogLine,
  type RuntimeEvent,
  STOP_EXIT_CODE,
} from '../src/index.js'
import { failure, runtimeCompliance, waitFor } from './compliance.js'

const IMAGE = 'gary/busybox:test'

runtimeCompliance('fake', async () => {
  const runtime = new FakeRuntime({ images: [IMAGE] })
  return { runtime, image: IMAGE, missingImage: 'gary/missing:1', cleanup: () => runtime.close() }
})

describe('FailingRuntime', () => {
  test('every call fails with RuntimeUnavailableError', async () => {
    const runtime: ContainerRuntime = new FailingRuntime()
    const spec = { name: 'x', image: IMAGE, labels: {} }
    const calls: (() => Promise<unknown>)[] = [
      () => runtime.info(),
      () => runtime.ensureImage(IMAGE),
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

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}
