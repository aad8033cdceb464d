import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { ContainerRuntime, ContainerSpec, LogLine, LogOptions, RuntimeEvent } from '../src/index.js'

export interface ComplianceSetup {
  runtime: ContainerRuntime
  /** An image with busybox's `sh`, `sleep` and `echo`, present locally. */
  image: string
  /** An image neither present nor pullable. */
  missingImage: string
  /** Releases what `make` set up; the suite removes its own containers and volumes first. */
  cleanup(): Promise<void>
  /** An empty directory of the host that a bind mount may mount. */
  hostDir: string
  /** Writes a file of the host, under `hostDir`. */
  writeHostFile(path: string, content: string): Promise<void>
  /** A file of the host; undefined when there is none. */
  readHostFile(path: string): Promise<string | undefined>
}

/**
 * The behaviour every ContainerRuntime must show, as a user would notice it. The same commands
 * run on every runtime (the fake simulates the few shell commands used here), so the fake cannot
 * drift from Docker. Each run labels its containers `gary.test=<random>` and removes them
 * afterwards. No fixed sleeps: every wait polls a condition until a deadline.
 */
export function runtimeCompliance(name: string, make: () => Promise<ComplianceSetup>): void {
  describe(`${name}: ContainerRuntime compliance`, () => {
    const run = randomBytes(4).toString('hex')
    const base = { 'gary.test': run }
    let setup: ComplianceSetup
    let runtime: ContainerRuntime

    const spec = (what: string, extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
      name: `gary-test-${run}-${what}`,
      image: setup.image,
      labels: { ...base, 'gary.case': what },
      command: ['sh', '-c', 'sleep 1000'],
      ...extra,
    })

    const state = async (id: string) => (await runtime.inspect(id)).state

    const lines = async (id: string, options: LogOptions = {}): Promise<LogLine[]> => {
      const out: LogLine[] = []
      for await (const line of runtime.logs(id, options)) out.push(line)
      return out
    }
    const stdout = (all: LogLine[]) => all.filter((l) => l.stream === 'stdout').map((l) => l.line)

    beforeAll(async () => {
      setup = await make()
      runtime = setup.runtime
    })

    afterAll(async () => {
      if (runtime !== undefined) {
        for (const c of await runtime.list(base)) await runtime.remove(c.id).catch(() => {})
        expect(await runtime.list(base)).toEqual([])
        for (const v of await runtime.listVolumes(base)) await runtime.removeVolume(v.name).catch(() => {})
        expect(await runtime.listVolumes(base)).toEqual([])
      }
      await setup?.cleanup()
    })

    test('info reports the engine and positive capacity', async () => {
      const info = await runtime.info()
      expect(info.driver).not.toBe('')
      expect(info.engineVersion).not.toBe('')
      expect(info.cpuMillis).toBeGreaterThan(0)
      expect(info.memoryBytes).toBeGreaterThan(0)
      if (info.gateway !== undefined) expect(info.gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$|:/)
    })

    test('a container is given the name servers its spec names, and the engine’s without any', async () => {
      const given = await runtime.create(spec('dns', { command: ['sleep', '1000'], dns: ['10.213.0.53'] }))
      expect((await runtime.inspect(given.id)).dns).toEqual(['10.213.0.53'])
      const plain = await runtime.create(spec('dns-none', { command: ['sleep', '1000'] }))
      expect((await runtime.inspect(plain.id)).dns).toEqual([])
    })

    /** Runs a script to its end; its exit code and stdout. */
    const runToEnd = async (what: string, script: string, extra: Partial<ContainerSpec> = {}) => {
      const c = await runtime.run(spec(what, { command: ['sh', '-c', script], ...extra }))
      await waitFor(`${what} exits`, async () => (await state(c.id)) === 'exited')
      const all = await lines(c.id)
      return { id: c.id, exitCode: (await runtime.inspect(c.id)).exitCode, stdout: stdout(all), all }
    }

    test('a named volume is made at the create, labelled, keeps its files after the container goes, and is removed only when unused', async () => {
      const volume = `gary-test-${run}-data`
      const mounts = [
        {
          type: 'volume' as const,
          source: volume,
          target: '/data',
          labels: { ...base, 'gary.volume': 'data' },
        },
      ]
      const writer = await runToEnd('vol-write', 'echo kept > /data/f; echo layer > /tmp/g', { mounts })
      expect(writer.exitCode).toBe(0)
      expect(await runtime.listVolumes({ ...base, 'gary.volume': 'data' })).toEqual([
        { name: volume, labels: { ...base, 'gary.volume': 'data' }, inUse: true },
      ])
      expect((await failure(runtime.removeVolume(volume))).name).toBe('VolumeInUseError')
      await runtime.remove(writer.id)
      expect(await runtime.listVolumes({ ...base, 'gary.volume': 'data' })).toMatchObject([
        { name: volume, inUse: false },
      ])
      // A new container sees the volume's file; the first one's own layer went with it.
      const reader = await runToEnd('vol-read', 'cat /data/f; cat /tmp/g', { mounts })
      expect(reader.stdout).toEqual(['kept'])
      await runtime.remove(reader.id)
      await runtime.removeVolume(volume)
      expect(await runtime.listVolumes({ ...base, 'gary.volume': 'data' })).toEqual([])
      expect((await failure(runtime.removeVolume(volume))).name).toBe('VolumeNotFoundError')
      // Made again empty.
      const fresh = await runToEnd('vol-fresh', 'cat /data/f', { mounts })
      expect(fresh.stdout).toEqual([])
      expect(fresh.exitCode).not.toBe(0)
    })

    test('a bind mount shows the host’s files; read-only, a write fails and the host is untouched', async () => {
      await setup.writeHostFile(`${setup.hostDir}/in`, 'from the host\n')
      const rw = [{ type: 'bind' as const, source: setup.hostDir, target: '/host' }]
      const both = await runToEnd('bind-rw', 'cat /host/in; echo written > /host/out', { mounts: rw })
      expect(both.stdout).toEqual(['from the host'])
      expect(both.exitCode).toBe(0)
      expect(await setup.readHostFile(`${setup.hostDir}/out`)).toBe('written\n')
      const ro = [{ ...rw[0]!, readOnly: true }]
      const refused = await runToEnd('bind-ro', 'cat /host/in; echo again > /host/ro', { mounts: ro })
      expect(refused.stdout).toEqual(['from the host'])
      expect(refused.exitCode).not.toBe(0)
      expect(refused.all.some((l) => l.stream === 'stderr' && /Read-only file system/.test(l.line))).toBe(
        true,
      )
      expect(await setup.readHostFile(`${setup.hostDir}/ro`)).toBeUndefined()
    })

    test('ensureImage accepts a present image, twice', async () => {
      await runtime.ensureImage(setup.image)
      await runtime.ensureImage(setup.image)
    })

    test('ensureImage of a missing image throws ImagePullError naming it; create and run of it too', async () => {
      const err = await failure(runtime.ensureImage(setup.missingImage, AbortSignal.timeout(30_000)))
      expect(err.name).toBe('ImagePullError')
      expect(err.message).toContain(setup.missingImage)
      // Neither pulls: a caller pulls with ensureImage first.
      const createErr = await failure(runtime.create(spec('missing-image', { image: setup.missingImage })))
      expect(createErr.name).toBe('ImagePullError')
      const runErr = await failure(runtime.run(spec('missing-image', { image: setup.missingImage })))
      expect(runErr.name).toBe('ImagePullError')
      expect(await runtime.list({ ...base, 'gary.case': 'missing-image' })).toEqual([])
    })

    test('run starts a container with its labels, env, command and ports; list finds it by label', async () => {
      const s = spec('run', {
        env: { FOO: 'bar baz', OTHER: 'x' },
        command: ['sh', '-c', 'echo "FOO=$FOO"; sleep 1000'],
        ports: [{ containerPort: 8080 }],
        cpuMillis: 250,
        memoryBytes: 64 * 2 ** 20,
      })
      const summary = await runtime.run(s)
      expect(summary).toMatchObject({ name: s.name, image: s.image, state: 'running' })
      expect(summary.labels).toMatchObject(s.labels)

      const found = await runtime.list(s.labels)
      expect(found.map((c) => [c.id, c.name, c.state])).toEqual([[summary.id, s.name, 'running']])
      expect(found[0]!.labels).toMatchObject(s.labels)
      expect(found[0]!.createdAt).toBeGreaterThan(0)
      expect(await runtime.list({ ...base, 'gary.case': 'no-such-case' })).toEqual([])

      const details = await runtime.inspect(summary.id)
      expect(details).toMatchObject({ id: summary.id, name: s.name, state: 'running', restartCount: 0 })
      expect(details.labels).toMatchObject(s.labels)
      expect(details.exitCode).toBeUndefined()
      expect(details.startedAt).toBeGreaterThan(0)
      // The engine holds the container to the limits it was given.
      expect(details).toMatchObject({ cpuMillis: 250, memoryBytes: 64 * 2 ** 20 })
      expect(details.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
      const published = details.ports.filter((p) => p.containerPort === 8080)
      expect(published.length).toBeGreaterThan(0)
      for (const p of published) {
        expect(p.protocol).toBe('tcp')
        expect(p.hostPort).toBeGreaterThan(0)
      }
      // By name as well as by id.
      expect((await runtime.inspect(s.name)).id).toBe(summary.id)

      // The env reached the process: it printed it.
      await waitFor('the env printed in the logs', async () =>
        stdout(await lines(summary.id)).includes('FOO=bar baz'),
      )
    })

    test('create makes a container in state created, seen by list and inspect; start runs it, same id', async () => {
      const s = spec('create', {
        command: ['sh', '-c', 'echo up; sleep 1000'],
        ports: [{ containerPort: 8080 }],
      })
      const created = await runtime.create(s)
      expect(created).toMatchObject({ name: s.name, image: s.image, state: 'created' })
      expect(created.labels).toMatchObject(s.labels)
      expect(created.createdAt).toBeGreaterThan(0)
      expect(await runtime.list(s.labels)).toMatchObject([{ id: created.id, name: s.name, state: 'created' }])
      const before = await runtime.inspect(created.id)
      expect(before).toMatchObject({ id: created.id, state: 'created', restartCount: 0, ports: [] })
      expect(before.startedAt).toBeUndefined()
      expect(before.exitCode).toBeUndefined()
      // Given none, it has no limits.
      expect(before.cpuMillis).toBeUndefined()
      expect(before.memoryBytes).toBeUndefined()
      expect(await lines(created.id)).toEqual([])

      await runtime.start(created.id)
      const after = await runtime.inspect(created.id)
      expect(after).toMatchObject({ id: created.id, name: s.name, state: 'running', restartCount: 0 })
      expect(after.startedAt).toBeGreaterThan(0)
      expect(after.ports.filter((p) => p.containerPort === 8080).length).toBeGreaterThan(0)
      expect(await runtime.list(s.labels)).toMatchObject([{ id: created.id, state: 'running' }])
      await waitFor('the process to print', async () => stdout(await lines(created.id)).includes('up'))

      // Starting a running container is fine, and changes nothing.
      await runtime.start(created.id)
      expect(await runtime.inspect(created.id)).toMatchObject({
        state: 'running',
        startedAt: after.startedAt,
      })
    })

    test('start runs an exited container again: same id, the logs of both runs', async () => {
      const s = spec('start-again', { command: ['sh', '-c', 'echo run; sleep 1000'] })
      const c = await runtime.run(s)
      await waitFor('the first run to print', async () => stdout(await lines(c.id)).includes('run'))
      await runtime.stop(c.id, 10)
      const stopped = await runtime.inspect(c.id)
      expect(stopped.state).toBe('exited')

      await runtime.start(c.id)
      const again = await runtime.inspect(c.id)
      expect(again).toMatchObject({ id: c.id, state: 'running' })
      expect(again.exitCode).toBeUndefined()
      expect(again.startedAt).toBeGreaterThanOrEqual(stopped.finishedAt!)
      expect(await runtime.list(s.labels)).toMatchObject([{ id: c.id, state: 'running' }])
      await waitFor('the second run to print', async () => stdout(await lines(c.id)).length === 2)
      expect(stdout(await lines(c.id))).toEqual(['run', 'run'])
    })

    test('a start by hand resets the restart count, and with it the on-failure budget', async () => {
      const c = await runtime.run(
        spec('start-resets', {
          command: ['sh', '-c', 'echo started; sleep 0.2; exit 3'],
          restart: { policy: 'on-failure', maxRetries: 1 },
        }),
      )
      const exitedAfter = (runs: number) => async () => {
        const d = await runtime.inspect(c.id)
        return d.state === 'exited' && stdout(await lines(c.id)).length === runs ? d : undefined
      }
      expect(await waitFor('one restart, then the final exit', exitedAfter(2))).toMatchObject({
        restartCount: 1,
        exitCode: 3,
      })
      await runtime.start(c.id)
      // Without the reset, the policy would not restart it again: three runs, not four.
      expect(await waitFor('one restart again, then the final exit', exitedAfter(4))).toMatchObject({
        id: c.id,
        restartCount: 1,
        exitCode: 3,
      })
    })

    test('start of an unknown or removed container throws ContainerNotFoundError', async () => {
      const unknown = await failure(runtime.start(`gary-test-${run}-no-such-container`))
      expect(unknown.name).toBe('ContainerNotFoundError')
      const c = await runtime.create(spec('start-removed'))
      await runtime.remove(c.id)
      expect((await failure(runtime.start(c.id))).name).toBe('ContainerNotFoundError')
    })

    test('create of a taken name throws NameConflictError, whether the first one runs or not', async () => {
      const first = await runtime.create(spec('create-conflict'))
      expect((await failure(runtime.create(spec('create-conflict')))).name).toBe('NameConflictError')
      await runtime.start(first.id)
      expect((await failure(runtime.create(spec('create-conflict')))).name).toBe('NameConflictError')
      expect(await runtime.list({ ...base, 'gary.case': 'create-conflict' })).toMatchObject([
        { id: first.id, state: 'running' },
      ])
    })

    test('a start that fails throws ContainerStartError and leaves the container, which starts later', async () => {
      const first = await runtime.run(spec('start-port-1', { ports: [{ containerPort: 8080 }] }))
      const hostPort = (await runtime.inspect(first.id)).ports[0]!.hostPort
      // The port is bound at the start, not at the create.
      const second = await runtime.create(
        spec('start-port-2', { ports: [{ containerPort: 8080, hostPort }] }),
      )
      expect((await failure(runtime.start(second.id))).name).toBe('ContainerStartError')
      expect(await runtime.list({ ...base, 'gary.case': 'start-port-2' })).toMatchObject([
        { id: second.id, state: 'created' },
      ])
      await runtime.remove(first.id)
      await runtime.start(second.id)
      expect(await state(second.id)).toBe('running')
    })

    test('a container with a passing health check is listed healthy; one without has no health', async () => {
      const health = { command: ['true'], intervalMs: 200, timeoutMs: 1000, retries: 1 }
      const checked = await runtime.run(spec('healthy', { health }))
      const plain = await runtime.run(spec('no-health'))
      await waitFor('the check to pass', async () =>
        (await runtime.list({ ...base, 'gary.case': 'healthy' }))[0]?.health === 'healthy' ? true : undefined,
      )
      expect((await runtime.inspect(checked.id)).health).toBe('healthy')
      expect((await runtime.list({ ...base, 'gary.case': 'no-health' }))[0]?.health).toBeUndefined()
      expect((await runtime.inspect(plain.id)).health).toBeUndefined()
    })

    test('health: starting until a check ends, unhealthy after retries failures in a row, with a health event', async () => {
      const controller = new AbortController()
      const seen: RuntimeEvent[] = []
      const labels = { ...base, 'gary.case': 'unhealthy' }
      const consumed = (async () => {
        for await (const event of runtime.events(labels, controller.signal)) seen.push(event)
      })()
      consumed.catch(() => {})
      try {
        // A check an interval away: right after the start no check has ended.
        const slow = { command: ['true'], intervalMs: 60_000, timeoutMs: 1000, retries: 1 }
        const waiting = await runtime.run(spec('health-starting', { health: slow }))
        expect((await runtime.list({ ...base, 'gary.case': 'health-starting' }))[0]?.health).toBe('starting')
        expect((await runtime.inspect(waiting.id)).health).toBe('starting')

        // Healthy while the file holds something; the process empties it, and two failed checks later
        // the container is unhealthy, still running.
        const health = {
          command: ['sh', '-c', 'test -s /tmp/ok'],
          intervalMs: 200,
          timeoutMs: 1000,
          retries: 2,
        }
        const c = await runtime.run(
          spec('unhealthy', {
            health,
            command: ['sh', '-c', 'echo yes > /tmp/ok; sleep 1.5; : > /tmp/ok; sleep 1000'],
          }),
        )
        const listed = async () => (await runtime.list(labels))[0]?.health
        await waitFor('the check to pass', async () => (await listed()) === 'healthy')
        await waitFor('the check to fail twice', async () => (await listed()) === 'unhealthy')
        expect(await runtime.inspect(c.id)).toMatchObject({ state: 'running', health: 'unhealthy' })
        await waitFor('a health event', async () =>
          seen.some((e) => e.kind === 'health' && e.containerId === c.id),
        )
        // A stopped container has no verdict; a new start checks afresh (the file is made again).
        await runtime.stop(c.id, 1)
        expect(await listed()).toBeUndefined()
        await runtime.start(c.id)
        await waitFor('healthy again after a start', async () => (await listed()) === 'healthy')
      } finally {
        controller.abort()
      }
      await within('the event stream to end after abort', consumed)
    })

    test('run of a taken name throws NameConflictError and leaves the first one running', async () => {
      const first = await runtime.run(spec('conflict'))
      const err = await failure(runtime.run(spec('conflict')))
      expect(err.name).toBe('NameConflictError')
      expect(await state(first.id)).toBe('running')
      expect(await runtime.list({ ...base, 'gary.case': 'conflict' })).toHaveLength(1)
    })

    test('a host port already taken fails the start with ContainerStartError and leaves no container', async () => {
      const first = await runtime.run(spec('port-1', { ports: [{ containerPort: 8080 }] }))
      const hostPort = (await runtime.inspect(first.id)).ports[0]!.hostPort
      const err = await failure(runtime.run(spec('port-2', { ports: [{ containerPort: 8080, hostPort }] })))
      expect(err.name).toBe('ContainerStartError')
      expect(await runtime.list({ ...base, 'gary.case': 'port-2' })).toEqual([])
      expect((await failure(runtime.inspect(spec('port-2').name))).name).toBe('ContainerNotFoundError')
    })

    test('stop exits the container promptly; stopping it again is fine', async () => {
      const c = await runtime.run(spec('stop', { command: ['sh', '-c', 'echo up; exec sleep 1000'] }))
      // The workload's output says the init process has forked it, so the init's signal handling
      // is in place: a SIGTERM sent before that is ignored by PID 1, on a loaded machine too.
      await waitFor('the stop case to print up', async () => stdout(await lines(c.id)).includes('up'))
      const started = performance.now()
      await runtime.stop(c.id, 10)
      // A workload that ignores SIGTERM as PID 1 would hold this for the whole 10 s.
      expect(performance.now() - started).toBeLessThan(5_000)
      const details = await runtime.inspect(c.id)
      expect(details.state).toBe('exited')
      expect(details.exitCode).toEqual(expect.any(Number))
      expect(details.finishedAt).toBeGreaterThanOrEqual(details.startedAt!)
      expect(details.ports).toEqual([])
      await runtime.stop(c.id)
      expect(await runtime.list({ ...base, 'gary.case': 'stop' })).toMatchObject([
        { id: c.id, state: 'exited' },
      ])
    })

    test('remove deletes a running container; then every call on it throws ContainerNotFoundError', async () => {
      const c = await runtime.run(spec('remove'))
      await runtime.remove(c.id)
      expect(await runtime.list({ ...base, 'gary.case': 'remove' })).toEqual([])
      for (const call of [
        () => runtime.inspect(c.id),
        () => runtime.remove(c.id),
        () => runtime.stop(c.id),
        () => lines(c.id),
      ]) {
        expect((await failure(call())).name).toBe('ContainerNotFoundError')
      }
    })

    test('events: start, then die with the exit code, for labelled containers only', async () => {
      const labels = { ...base, 'gary.case': 'events' }
      const controller = new AbortController()
      const seen: RuntimeEvent[] = []
      const events = runtime.events(labels, controller.signal)
      const consumed = (async () => {
        for await (const event of events) seen.push(event)
      })()
      consumed.catch(() => {}) // awaited below; this only keeps an early failure from going unhandled
      try {
        // Not labelled `gary.case=events`: must not be seen. It exits first, so that its events
        // would arrive before the labelled container's.
        const other = await runtime.run(spec('events-other', { command: ['sh', '-c', 'sleep 0.1; exit 5'] }))
        await waitFor('the unlabelled container to exit', async () => (await state(other.id)) === 'exited')

        const c = await runtime.run(spec('events', { command: ['sh', '-c', 'sleep 0.1; exit 7'] }))
        await waitFor('a die event', async () => seen.some((e) => e.kind === 'die' && e.containerId === c.id))

        expect(seen.filter((e) => e.containerId === other.id)).toEqual([])
        const mine = seen.filter((e) => e.containerId === c.id)
        const kinds = mine.map((e) => e.kind)
        expect(kinds).toContain('start')
        expect(kinds.indexOf('start')).toBeLessThan(kinds.indexOf('die'))
        const die = mine.find((e) => e.kind === 'die')!
        expect(die.exitCode).toBe(7)
        for (const e of mine) {
          expect(e.labels).toMatchObject(labels)
          expect(e.at).toBeGreaterThan(0)
        }
        const details = await runtime.inspect(c.id)
        expect(details).toMatchObject({ state: 'exited', exitCode: 7, restartCount: 0 })
      } finally {
        controller.abort()
      }
      // Aborting ends the iteration quietly.
      await within('the event stream to end after abort', consumed)
    })

    test('logs: lines in order per stream, tail, and follow until aborted', async () => {
      const c = await runtime.run(
        spec('logs', {
          command: [
            'sh',
            '-c',
            'echo oops >&2; sleep 0.2; echo one; echo two; echo three; sleep 0.5; echo four; sleep 1000',
          ],
        }),
      )
      await waitFor('three lines on stdout', async () => stdout(await lines(c.id)).includes('three'))
      const all = await lines(c.id)
      expect(stdout(all).slice(0, 3)).toEqual(['one', 'two', 'three'])
      expect(all.filter((l) => l.stream === 'stderr').map((l) => l.line)).toEqual(['oops'])
      expect(all[0]).toEqual({ stream: 'stderr', line: 'oops' })

      const controller = new AbortController()
      const followed: string[] = []
      const following = (async () => {
        for await (const line of runtime.logs(c.id, { follow: true, signal: controller.signal })) {
          if (line.stream === 'stdout') followed.push(line.line)
        }
      })()
      following.catch(() => {})
      // Follow replays what was written and then delivers new lines as they come.
      await waitFor('a line written after follow began', async () => followed.includes('four'))
      expect(followed).toEqual(['one', 'two', 'three', 'four'])
      controller.abort()
      await within('the followed logs to end after abort', following)

      expect(stdout(await lines(c.id, { tail: 2 }))).toEqual(['three', 'four'])
    })

    test('logs: following ends by itself when the container stops', async () => {
      const c = await runtime.run(spec('logs-stop', { command: ['sh', '-c', 'echo hello; sleep 1000'] }))
      await waitFor('the first line', async () => stdout(await lines(c.id)).includes('hello'))
      const following = lines(c.id, { follow: true, signal: AbortSignal.timeout(30_000) })
      following.catch(() => {})
      await runtime.stop(c.id)
      expect(stdout(await within('the followed logs to end', following))).toEqual(['hello'])
    })

    test('restart policy on-failure restarts a crashing container up to maxRetries', async () => {
      const c = await runtime.run(
        spec('restart', {
          command: ['sh', '-c', 'echo started; sleep 0.2; exit 3'],
          restart: { policy: 'on-failure', maxRetries: 2 },
        }),
      )
      const details = await waitFor('two restarts, then the final exit', async () => {
        const d = await runtime.inspect(c.id)
        return d.state === 'exited' && d.restartCount === 2 ? d : undefined
      })
      expect(details.exitCode).toBe(3)
      expect(stdout(await lines(c.id))).toEqual(['started', 'started', 'started'])
    })

    test('restart policy on-failure leaves a clean exit alone; always restarts it until stopped', async () => {
      const clean = await runtime.run(
        spec('restart-clean', {
          command: ['sh', '-c', 'sleep 0.1; exit 0'],
          restart: { policy: 'on-failure' },
        }),
      )
      const done = await waitFor('the clean exit', async () => {
        const d = await runtime.inspect(clean.id)
        return d.state === 'exited' ? d : undefined
      })
      expect(done).toMatchObject({ exitCode: 0, restartCount: 0 })

      const always = await runtime.run(
        spec('restart-always', { command: ['sh', '-c', 'sleep 0.1; exit 0'], restart: { policy: 'always' } }),
      )
      await waitFor('a restart', async () => (await runtime.inspect(always.id)).restartCount >= 1)
      await runtime.stop(always.id)
      await waitFor('stopped for good', async () => (await state(always.id)) === 'exited')
    })

    test('close ends open event and log streams', async () => {
      const other = await make()
      try {
        // On the second runtime: a fake's containers live in one instance. The suite's cleanup
        // finds it by label on an engine; a fake forgets it with the instance.
        const c = await other.runtime.run(spec('close', { command: ['sh', '-c', 'echo up; sleep 1000'] }))
        const events = (async () => {
          for await (const _ of other.runtime.events(base, AbortSignal.timeout(30_000))) {
            // Only the ending matters.
          }
        })()
        events.catch(() => {})
        const followed: LogLine[] = []
        const following = (async () => {
          const signal = AbortSignal.timeout(30_000)
          for await (const line of other.runtime.logs(c.id, { follow: true, signal })) followed.push(line)
        })()
        following.catch(() => {})
        await waitFor('the follower to read', async () => followed.length > 0)
        await other.runtime.close()
        await within('the event stream to end after close', events)
        await within('the log stream to end after close', following)
      } finally {
        await other.cleanup()
      }
    })

    test('a call with an aborted signal rejects with AbortError', async () => {
      const aborted = AbortSignal.abort()
      expect((await failure(runtime.list(base, aborted))).name).toBe('AbortError')
      expect((await failure(runtime.info(aborted))).name).toBe('AbortError')
      expect((await failure(runtime.run(spec('aborted'), aborted))).name).toBe('AbortError')
      expect((await failure(runtime.create(spec('aborted'), aborted))).name).toBe('AbortError')
      expect((await failure(runtime.start(spec('aborted').name, aborted))).name).toBe('AbortError')
      expect(await runtime.list({ ...base, 'gary.case': 'aborted' })).toEqual([])
    })
  })
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a rejection, but the call succeeded')
}

/** Polls `probe` until it returns something other than undefined or false, or the deadline passes. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      last = err
    }
    if (performance.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last error: ${last}` : ''}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Awaits a promise, failing with a clear message when it takes longer than the deadline. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
