import { randomBytes } from 'node:crypto'
import Docker from 'dockerode'
import { afterAll, describe, expect, test } from 'vitest'
import { DEFERRED_CPU_LABEL, deferredCpuOf } from '../src/cpu-limit.js'
import { DockerRuntime } from '../src/docker.js'
import type { ContainerSpec } from '../src/index.js'
import { ensureTestImage, TEST_IMAGE } from '../src/test-image.js'
import { failure, waitFor } from './compliance.js'

// docker.test.ts fails the run without an engine when GARY_REQUIRE_DOCKER=1; these skip then.
const probe = new DockerRuntime()
const unavailable = await probe.info(AbortSignal.timeout(5_000)).then(
  () => undefined,
  (err: Error) => err,
)
await probe.close()

const suffix = randomBytes(4).toString('hex')
const labels = { 'gary.test': `cpu-${suffix}` }
/** A start someone waits on, as a failover's is: its limit comes right after the start. */
const spec = (name: string, cpuMillis: number): ContainerSpec => ({
  name: `gary-test-${suffix}-${name}`,
  image: TEST_IMAGE,
  command: ['sleep', '1000'],
  labels,
  cpuMillis,
  unthrottledStart: true,
})

/** A runtime on the real engine, each of whose containers `patch` changes (a call refused, counted). */
function patchedRuntime(patch: (container: Docker.Container) => void): DockerRuntime {
  const docker = new Docker()
  const getContainer = docker.getContainer.bind(docker)
  docker.getContainer = (id: string) => {
    const container = getContainer(id)
    patch(container)
    return container
  }
  return new DockerRuntime({}, { docker })
}

/** An engine's refusal, as dockerode rejects with it. */
const refusal = (message: string) =>
  Object.assign(new Error('refused'), { statusCode: 500, json: { message } })

describe.skipIf(unavailable !== undefined)('DockerRuntime CPU limits', () => {
  const runtime = new DockerRuntime()
  afterAll(async () => {
    for (const c of await runtime.list(labels)) await runtime.remove(c.id).catch(() => {})
    await runtime.close()
  })

  test('a limit under one CPU is left out of a hurried creation and holds once the container has started', async () => {
    await ensureTestImage(runtime)
    const created = await runtime.create(spec('small', 50))
    const before = await runtime.inspect(created.id)
    expect(before.cpuMillis).toBeUndefined()
    expect(before.labels[DEFERRED_CPU_LABEL]).toBe('50000000')
    await runtime.start(created.id)
    expect(await runtime.inspect(created.id)).toMatchObject({ state: 'running', cpuMillis: 50 })
  })

  test('a container created by an earlier daemon gets its limit from its label when started', async () => {
    await ensureTestImage(runtime)
    const created = await runtime.create(spec('earlier', 100))
    const later = new DockerRuntime()
    try {
      await later.start(created.id)
      expect(await later.inspect(created.id)).toMatchObject({ state: 'running', cpuMillis: 100 })
    } finally {
      await later.close()
    }
  })

  test('a start aborted on its way still leaves the container its limit, started or not', async () => {
    await ensureTestImage(runtime)
    const created = await runtime.create(spec('aborted', 50))
    const abort = new AbortController()
    const starting = runtime.start(created.id, abort.signal)
    abort.abort()
    await failure(starting)
    // The engine may have started it all the same: either way it holds its limit.
    expect((await runtime.inspect(created.id)).cpuMillis).toBe(50)
  })

  test('a start nobody asked to hurry gets its limit at the creation, as docker run does', async () => {
    await ensureTestImage(runtime)
    const { unthrottledStart: _, ...plain } = spec('plain', 50)
    const created = await runtime.create(plain)
    const before = await runtime.inspect(created.id)
    expect(before.cpuMillis).toBe(50)
    expect(before.labels[DEFERRED_CPU_LABEL]).toBeUndefined()
    await runtime.start(created.id)
    expect(await runtime.inspect(created.id)).toMatchObject({ state: 'running', cpuMillis: 50 })
  })

  test('a limit of one CPU or more is given at the creation', async () => {
    await ensureTestImage(runtime)
    const created = await runtime.create(spec('large', 1500))
    const before = await runtime.inspect(created.id)
    expect(before.cpuMillis).toBe(1500)
    expect(before.labels[DEFERRED_CPU_LABEL]).toBeUndefined()
  })

  test('a container this runtime created starts without a lookup of its limit', async () => {
    await ensureTestImage(runtime)
    let inspections = 0
    const counting = patchedRuntime((container) => {
      const inspect = container.inspect.bind(container)
      container.inspect = ((...args: Parameters<typeof inspect>) => {
        inspections++
        return inspect(...args)
      }) as typeof container.inspect
    })
    for (const cpu of [50, 1500]) await counting.start((await counting.create(spec(`own-${cpu}`, cpu))).id)
    expect(inspections).toBe(0)
  })

  test('a process that exits at once starts as any other: its exit code stays what it says, its limit holds', async () => {
    await ensureTestImage(runtime)
    // The engine refuses an update until it has seen the exit (one start in five, once, here).
    for (let i = 0; i < 5; i++) {
      const created = await runtime.create({ ...spec(`exits-${i}`, 50), command: ['sh', '-c', 'exit 3'] })
      await runtime.start(created.id)
      await waitFor('the process to exit', async () => (await runtime.inspect(created.id)).state === 'exited')
      expect(await runtime.inspect(created.id)).toMatchObject({ exitCode: 3, cpuMillis: 50 })
    }
  })

  test('an update the engine refuses until it has seen the exit is tried again', async () => {
    await ensureTestImage(runtime)
    // The real engine, refusing the first two updates as it does while an exit is on its way.
    let refusals = 2
    const racing = patchedRuntime((container) => {
      const update = container.update.bind(container)
      container.update = ((options: object) =>
        refusals-- > 0
          ? Promise.reject(refusal('cannot update a stopped container: unknown'))
          : update(options)) as typeof container.update
    })
    const created = await racing.create(spec('raced', 50))
    await racing.start(created.id)
    expect(await runtime.inspect(created.id)).toMatchObject({ state: 'running', cpuMillis: 50 })
  })

  test('a container whose limit the engine will not apply is killed, and the start fails saying so', async () => {
    await ensureTestImage(runtime)
    // The real engine, but its update call refused.
    const refusing = patchedRuntime((container) => {
      container.update = () => Promise.reject(refusal('update refused'))
    })
    const created = await refusing.create(spec('refused', 50))
    const err = await failure(refusing.start(created.id))
    expect(err.name).toBe('ContainerStartError')
    expect(err.message).toContain('its CPU limit could not be applied: update refused')
    expect((await runtime.inspect(created.id)).state).not.toBe('running')
  })

  test('a label that is no limit fails the start, and the container does not run on without one', async () => {
    await ensureTestImage(runtime)
    const container = await runtime.docker.createContainer({
      name: `gary-test-${suffix}-tampered`,
      Image: TEST_IMAGE,
      Cmd: ['sleep', '1000'],
      Labels: { ...labels, [DEFERRED_CPU_LABEL]: 'lots' },
    })
    const err = await failure(runtime.start(container.id))
    expect(err.name).toBe('ContainerStartError')
    expect(err.message).toContain(`its label ${DEFERRED_CPU_LABEL}="lots" is no CPU limit`)
    expect((await runtime.inspect(container.id)).state).not.toBe('running')
  })
})

describe('the deferred CPU limit label', () => {
  test('reads a whole number of nanocpus within Docker’s bounds, and nothing else', () => {
    expect(deferredCpuOf(undefined)).toBeUndefined()
    expect(deferredCpuOf({ other: '1' })).toBeUndefined()
    expect(deferredCpuOf({ [DEFERRED_CPU_LABEL]: '50000000' })).toBe(50_000_000)
    for (const bad of ['', 'lots', '5e7', '-50000000', '50000000.5', '9999999', '1'.repeat(17), ' 50000000'])
      expect(() => deferredCpuOf({ [DEFERRED_CPU_LABEL]: bad })).toThrow('is no CPU limit')
  })
})
