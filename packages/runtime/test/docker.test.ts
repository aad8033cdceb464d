import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { LogDemuxer } from '../src/demux.js'
import { DockerRuntime, toRuntimeEvent } from '../src/docker.js'
import { ensureTestImage, TEST_IMAGE } from '../src/test-image.js'
import { failure, runtimeCompliance } from './compliance.js'

// With GARY_REQUIRE_DOCKER=1 (CI) a missing engine fails the run; otherwise the suite is skipped,
// loudly.
const required = process.env.GARY_REQUIRE_DOCKER === '1'
const probe = new DockerRuntime()
const unavailable = await probe.info(AbortSignal.timeout(5_000)).then(
  () => undefined,
  (err: Error) => err,
)
await probe.close()

if (unavailable === undefined) {
  runtimeCompliance('docker', async () => {
    const runtime = new DockerRuntime()
    await ensureTestImage(runtime)
    const hostDir = await mkdtemp(join(tmpdir(), 'gary-bind-'))
    return {
      runtime,
      image: TEST_IMAGE,
      missingImage: 'gary/missing:1',
      cleanup: async () => {
        await runtime.close()
        await rm(hostDir, { recursive: true, force: true })
      },
      hostDir,
      writeHostFile: (path, content) => writeFile(path, content),
      readHostFile: (path) => readFile(path, 'utf8').catch(() => undefined),
    }
  })
  test('info names the default bridge’s gateway, where containers reach their host', async () => {
    const runtime = new DockerRuntime()
    try {
      expect((await runtime.info()).gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
    } finally {
      await runtime.close()
    }
  })
} else if (required) {
  test('a Docker engine answers (GARY_REQUIRE_DOCKER=1)', () => {
    throw unavailable
  })
} else {
  console.warn(
    `SKIPPED the Docker compliance suite: ${unavailable.message}. Set GARY_REQUIRE_DOCKER=1 to fail instead.`,
  )
  describe.skip(`docker: ContainerRuntime compliance (${unavailable.message})`, () => {
    test('needs a Docker engine', () => {})
  })
}

describe.skipIf(unavailable !== undefined)('DockerRuntime start', () => {
  test('a start the engine answers 404 for, the container being there, is a ContainerStartError', async () => {
    // The engine answers 404 for a network that is gone, as for a container that is.
    const runtime = new DockerRuntime()
    const suffix = randomBytes(4).toString('hex')
    await ensureTestImage(runtime)
    const network = await runtime.docker.createNetwork({ Name: `gary-test-${suffix}` })
    const container = await runtime.docker.createContainer({
      name: `gary-test-${suffix}-network-gone`,
      Image: TEST_IMAGE,
      Cmd: ['sh', '-c', 'sleep 1000'],
      Labels: { 'gary.test': suffix },
      HostConfig: { NetworkMode: `gary-test-${suffix}` },
    })
    try {
      await network.remove()
      expect((await failure(runtime.start(container.id))).name).toBe('ContainerStartError')
      expect((await runtime.inspect(container.id)).state).toBe('created')
    } finally {
      await container.remove({ force: true }).catch(() => {})
      await network.remove().catch(() => {})
      await runtime.close()
    }
  })
})

describe.skipIf(unavailable !== undefined)('DockerRuntime requests', () => {
  test('a request’s options print short: docker-modem formats them whole for every call', async () => {
    // Pooled sockets made the agent 74 KB of text, formatted on every call even with debug off.
    const runtime = new DockerRuntime()
    try {
      await Promise.all(Array.from({ length: 8 }, () => runtime.list({ 'gary.test': 'none' })))
      const options = { agent: (runtime.docker.modem as unknown as { agent: unknown }).agent }
      expect(inspect(options, { showHidden: true, depth: null }).length).toBeLessThan(200)
    } finally {
      await runtime.close()
    }
  })
})

describe('DockerRuntime without an engine', () => {
  test('a missing socket gives RuntimeUnavailableError saying where it looked and what to do', async () => {
    const socketPath = join(tmpdir(), `gary-no-engine-${process.pid}.sock`)
    const runtime = new DockerRuntime({ socketPath })
    for (const call of [
      () => runtime.info(),
      () => runtime.list({}),
      () => runtime.ensureImage(TEST_IMAGE),
    ]) {
      const err = await failure(call())
      expect(err.name).toBe('RuntimeUnavailableError')
      expect(err.message).toBe(
        `no Docker engine answers at ${socketPath}: start dockerd, or run scripts/ensure-docker.sh`,
      )
    }
    await runtime.close()
  })

  test('a socket path nobody listens on gives RuntimeUnavailableError', async () => {
    const socketPath = join(tmpdir(), `gary-not-a-socket-${process.pid}`)
    await writeFile(socketPath, '')
    const runtime = new DockerRuntime({ socketPath })
    expect((await failure(runtime.info())).name).toBe('RuntimeUnavailableError')
    await runtime.close()
  })
})

describe.skipIf(unavailable !== undefined)('DockerRuntime command and args', () => {
  test('args keep the image entrypoint; a command replaces it', async () => {
    const runtime = new DockerRuntime()
    const suffix = randomBytes(4).toString('hex')
    await ensureTestImage(runtime)
    const image = `gary/entrypoint:${suffix}`
    const base = await runtime.docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'] })
    await base.commit({ repo: 'gary/entrypoint', tag: suffix, changes: ['ENTRYPOINT ["echo", "entry"]'] })
    await base.remove()
    const output = async (what: string, extra: { command?: string[]; args?: string[] }) => {
      const c = await runtime.run({
        name: `gary-test-${suffix}-${what}`,
        image,
        labels: { 'gary.test': suffix },
        ...extra,
      })
      const deadline = Date.now() + 10_000
      while ((await runtime.inspect(c.id)).state === 'running' && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50))
      const lines: string[] = []
      for await (const line of runtime.logs(c.id)) lines.push(line.line)
      return lines
    }
    try {
      expect(await output('args', { args: ['x', 'y'] })).toEqual(['entry x y'])
      expect(await output('command', { command: ['echo', 'replaced'] })).toEqual(['replaced'])
    } finally {
      for (const c of await runtime.list({ 'gary.test': suffix })) await runtime.remove(c.id).catch(() => {})
      await runtime.docker
        .getImage(image)
        .remove()
        .catch(() => {})
      await runtime.close()
    }
  })
})

describe.skipIf(unavailable !== undefined)('DockerRuntime health', () => {
  test('a failing health check makes the running container unhealthy', async () => {
    const runtime = new DockerRuntime()
    const suffix = randomBytes(4).toString('hex')
    await ensureTestImage(runtime)
    const c = await runtime.run({
      name: `gary-test-${suffix}-unhealthy`,
      image: TEST_IMAGE,
      command: ['sleep', '1000'],
      labels: { 'gary.test': suffix },
      health: { command: ['false'], intervalMs: 200, timeoutMs: 1000, retries: 1 },
    })
    try {
      const deadline = Date.now() + 10_000
      while ((await runtime.list({ 'gary.test': suffix }))[0]?.health !== 'unhealthy') {
        if (Date.now() > deadline) throw new Error('never unhealthy')
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect((await runtime.inspect(c.id)).health).toBe('unhealthy')
    } finally {
      await runtime.remove(c.id).catch(() => {})
      await runtime.close()
    }
  })
})

describe('Docker event mapping', () => {
  // As the engine writes it: timeNano does not fit a double, which only costs sub-ms precision.
  const line = (action: string, attributes: Record<string, string>, type = 'container') =>
    `{"Type":"${type}","Action":"${action}","Actor":{"ID":"abc","Attributes":${JSON.stringify(attributes)}},` +
    '"time":1795467238,"timeNano":1795467238039559305}'

  test('die carries the exit code; labels are the attributes minus what Docker adds', () => {
    expect(
      toRuntimeEvent(
        line('die', { exitCode: '3', image: 'gary/busybox:test', name: 'web-0', 'gary.node': 'n1' }),
      ),
    ).toEqual({
      kind: 'die',
      containerId: 'abc',
      labels: { 'gary.node': 'n1' },
      exitCode: 3,
      at: 1795467238039,
    })
  })

  test('a health status change is a health event', () => {
    expect(toRuntimeEvent(line('health_status: unhealthy', { 'gary.node': 'n1' }))).toMatchObject({
      kind: 'health',
      labels: { 'gary.node': 'n1' },
    })
  })

  test('events Gary does not use are dropped', () => {
    expect(toRuntimeEvent(line('kill', { signal: '15' }))).toBeUndefined()
    expect(toRuntimeEvent(line('exec_start: sh', {}))).toBeUndefined()
    expect(toRuntimeEvent(line('create', {}, 'network'))).toBeUndefined()
    expect(toRuntimeEvent('not json')).toBeUndefined()
    expect(toRuntimeEvent('')).toBeUndefined()
  })
})

describe('LogDemuxer', () => {
  const frame = (stream: 1 | 2, text: string) => {
    const payload = Buffer.from(text)
    const header = Buffer.alloc(8)
    header[0] = stream
    header.writeUInt32BE(payload.byteLength, 4)
    return Buffer.concat([header, payload])
  }

  test('lines come out whole and in order, however the frames are cut', () => {
    const lineArb = fc.string({ unit: fc.constantFrom('a', 'b', 'é', ' ', '✓') })
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<1 | 2>(1, 2), lineArb), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }),
        (written, cuts) => {
          const bytes = Buffer.concat(written.map(([stream, text]) => frame(stream, `${text}\n`)))
          const demuxer = new LogDemuxer()
          const out = []
          for (let at = 0, i = 0; at < bytes.byteLength; i++) {
            const size = cuts[i % cuts.length]!
            out.push(...demuxer.push(bytes.subarray(at, at + size)))
            at += size
          }
          out.push(...demuxer.end())
          expect(out).toEqual(
            written.map(([stream, line]) => ({ stream: stream === 2 ? 'stderr' : 'stdout', line })),
          )
        },
      ),
    )
  })

  test('a line split across frames is joined; an unterminated last line is kept', () => {
    const demuxer = new LogDemuxer()
    expect(demuxer.push(Buffer.concat([frame(1, 'hel'), frame(2, 'err\n'), frame(1, 'lo\nta')]))).toEqual([
      { stream: 'stderr', line: 'err' },
      { stream: 'stdout', line: 'hello' },
    ])
    expect(demuxer.end()).toEqual([{ stream: 'stdout', line: 'ta' }])
  })
})
