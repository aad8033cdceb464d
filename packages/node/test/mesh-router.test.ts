import { connect, createServer, type Server, type Socket } from 'node:net'
import type { Backend, MeshService } from '@gary/protocol'
import pino from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { Mesh } from '../src/mesh/router.js'
import { freePort } from '../src/testing/taken-port.js'
import { waitFor } from '../src/testing/wait.js'

const logger = pino({ level: 'silent' })
const closers: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** A slot's container: answers each line with its name and the line. */
async function slot(name: string): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    socket.setEncoding('utf8').on('data', (data: string) => socket.write(`${name}:${data}`))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.address() as { port: number }).port, server }
}

const backend = (node: string, port: number, local = false): Backend => ({
  key: `${node}/web/0`,
  node,
  workload: 'web',
  slot: 0,
  host: '127.0.0.1',
  port,
  local,
})

const service = (publishedPort: number, backends: Backend[]): MeshService => ({
  workload: 'web',
  publishedPort,
  containerPort: 80,
  protocol: 'tcp',
  backends,
})

function mesh(options: ConstructorParameters<typeof Mesh>[0] = {}) {
  const m = new Mesh({ host: '127.0.0.1', ...options }, { logger, now: () => performance.now() })
  closers.push(() => m.stop())
  return m
}

/** Opens a connection to the mesh, sends `line`, and resolves with the first answer. */
async function ask(port: number, line: string): Promise<{ answer: string; socket: Socket }> {
  const socket = connect({ port, host: '127.0.0.1' })
  closers.push(() => {
    socket.destroy()
  })
  socket.setEncoding('utf8')
  const answer = await new Promise<string>((resolve, reject) => {
    socket.once('data', (data: string) => resolve(data))
    socket.once('error', reject)
    socket.once('close', () => reject(new Error('closed with no answer')))
    socket.write(line)
  })
  return { answer, socket }
}

const listening = async (port: number) =>
  waitFor(
    `the mesh to listen on ${port}`,
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect({ port, host: '127.0.0.1' })
        s.once('connect', () => resolve(s.destroy() === s))
        // Reset at once (no slot behind it) is listening too; refused is not.
        s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNRESET'))
      }),
  )

/** The mesh serves `port` with these slots, once it listens (the probe reaches no slot). */
async function serve(m: Mesh, port: number, backends: Backend[]): Promise<void> {
  m.update([service(port, [])], [])
  await listening(port)
  m.update([service(port, backends)], [])
}

describe('the routing mesh', () => {
  test('sends a connection to this node’s own slot first', async () => {
    const local = await slot('local')
    const remote = await slot('remote')
    const port = await freePort()
    const m = mesh()
    await serve(m, port, [backend('n1', remote.port), backend('n0', local.port, true)])
    for (let i = 0; i < 4; i++) expect((await ask(port, `hi${i}`)).answer).toBe(`local:hi${i}`)
    expect(m.stats).toMatchObject({ forwarded: 4, connectFailures: 0 })
  })

  test('spreads open connections over the other slots', async () => {
    const slots = await Promise.all(['a', 'b', 'c'].map((name) => slot(name)))
    const port = await freePort()
    const m = mesh()
    await serve(
      m,
      port,
      slots.map((s, i) => backend(`n${i + 1}`, s.port)),
    )
    const answers: string[] = []
    for (let i = 0; i < 6; i++) answers.push((await ask(port, 'x')).answer)
    expect(answers.sort()).toEqual(['a:x', 'a:x', 'b:x', 'b:x', 'c:x', 'c:x'])
  })

  test('a slot it cannot reach: the connection goes to another, and the slot leaves rotation', async () => {
    const alive = await slot('alive')
    const port = await freePort()
    const m = mesh()
    // The unreachable slot is local: it is tried first.
    await serve(m, port, [backend('n0', await freePort(), true), backend('n1', alive.port)])
    expect((await ask(port, 'one')).answer).toBe('alive:one')
    expect((await ask(port, 'two')).answer).toBe('alive:two')
    // Tried once, then out of rotation.
    expect(m.stats.connectFailures).toBe(1)
  })

  test('with no slot left, the connection is closed at once', async () => {
    const port = await freePort()
    const m = mesh()
    await serve(m, port, [backend('n1', await freePort())])
    await expect(ask(port, 'x')).rejects.toThrow()
    m.update([service(port, [])], [])
    await expect(ask(port, 'x')).rejects.toThrow()
    expect(m.stats.unserved).toBeGreaterThanOrEqual(2)
  })

  test('a connection open when its slot leaves rotation goes on', async () => {
    const a = await slot('a')
    const port = await freePort()
    const m = mesh()
    await serve(m, port, [backend('n1', a.port)])
    const { socket } = await ask(port, 'first')
    m.update([service(port, [])], [])
    const next = await new Promise<string>((resolve) => {
      socket.once('data', resolve)
      socket.write('second')
    })
    expect(next).toBe('a:second')
    expect(m.stats.open).toBe(1)
  })

  test('a published port another process holds is not served, says why, and is served once free', async () => {
    const holder = await slot('holder')
    const a = await slot('a')
    const m = mesh({ relistenMs: 50 })
    let changes = 0
    const watched = new Mesh(
      { host: '127.0.0.1', relistenMs: 50 },
      { logger, now: () => performance.now(), onUnservedChange: () => changes++ },
    )
    closers.push(() => watched.stop())
    watched.update([service(holder.port, [backend('n1', a.port)])], [])
    await waitFor('the port to be reported unserved', () => watched.unserved.length === 1)
    expect(watched.unserved).toEqual([
      {
        port: holder.port,
        protocol: 'tcp',
        workload: 'web',
        reason: `port ${holder.port}/tcp is in use by another process`,
      },
    ])
    expect(watched.stats.portInUse).toBeGreaterThan(0)
    await new Promise<void>((resolve) => holder.server.close(() => resolve()))
    await waitFor('the port to be served once free', () => watched.unserved.length === 0)
    expect(changes).toBe(2)
    expect((await ask(holder.port, 'x')).answer).toBe('a:x')
    expect(m.unserved).toEqual([])
  })

  test('a port two workloads publish is unserved for the one that lost', () => {
    const m = mesh()
    m.update([], [{ port: 80, protocol: 'tcp', workload: 'web', servedBy: 'api' }])
    expect(m.unserved).toEqual([
      {
        port: 80,
        protocol: 'tcp',
        workload: 'web',
        reason: 'workload api publishes port 80/tcp too, and serves it',
      },
    ])
  })
})
