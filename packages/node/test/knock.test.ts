import { spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { afterAll, describe, expect, test } from 'vitest'
import { knock } from '../src/net/knock.js'
import { takenPort } from '../src/testing/taken-port.js'
import { waitFor } from '../src/testing/wait.js'

/** Runs the loop's thread for `ms` without a break, as a starved or busy node's loop does. */
function stall(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {}
}

describe('knocking at a machine', () => {
  const stopped: number[] = []
  const held: Socket[] = []
  afterAll(() => {
    for (const socket of held) socket.destroy()
    for (const pid of stopped) {
      process.kill(pid, 'SIGCONT')
      process.kill(pid, 'SIGKILL')
    }
  })

  /** A listener on loopback in a process of its own, then SIGSTOP: its event loop runs nothing at all. */
  async function stoppedListener(backlog: number): Promise<number> {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: ${backlog} }, function () { console.log(this.address().port) })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    await waitFor('the listener to print its port', () => out.includes('\n'))
    stopped.push(child.pid as number)
    process.kill(child.pid as number, 'SIGSTOP')
    return Number(out.trim())
  }

  /**
   * A port on loopback where nothing answers, as at a machine powered off: a stopped listener's
   * accept queue filled up, so that the kernel drops every further SYN (no traffic leaves the host).
   */
  async function silentPort(): Promise<number> {
    const backlog = 1
    const port = await stoppedListener(backlog)
    // Linux queues backlog + 1 connections. All these SYNs go out before any answer is read, so
    // once one is answered the queue holds all it can, and the rest wait for good.
    let answered = 0
    for (let i = 0; i < backlog + 3; i++) {
      const socket = connect({ host: '127.0.0.1', port })
      held.push(socket)
      socket.once('connect', () => answered++)
    }
    await waitFor("the stopped listener's accept queue to fill", () => answered > 0)
    return port
  }

  test('a machine whose process is stopped still answers (its kernel accepts); a closed port and a machine that is not there do not', async () => {
    const port = await stoppedListener(511)
    await expect(knock([`/ip4/127.0.0.1/tcp/${port}`], 1000)).resolves.toBeUndefined()

    const { port: closedPort, close } = await takenPort()
    await close()
    await expect(knock([`/ip4/127.0.0.1/tcp/${closedPort}`], 1000)).rejects.toHaveProperty(
      'name',
      'NoAnswerError',
    )
    const silent = await silentPort()
    await expect(knock([`/ip4/127.0.0.1/tcp/${silent}`], 150)).rejects.toHaveProperty('name', 'NoAnswerError')
    await expect(knock(['/ip4/127.0.0.1/udp/4279/quic-v1'], 150)).rejects.toHaveProperty(
      'name',
      'NoAnswerError',
    )
  })

  test('one address that answers is enough', async () => {
    const { port, close } = await takenPort()
    const silent = await silentPort()
    try {
      await expect(
        knock([`/ip4/127.0.0.1/tcp/${silent}`, `/ip4/127.0.0.1/tcp/${port}`, 'not an address'], 1000),
      ).resolves.toBeUndefined()
    } finally {
      await close()
    }
  })

  test("a machine that answered while the knocker's own loop stalled past the timeout counts as up", async () => {
    // The kernel completes the handshake during the stall; the timer is due before the loop reads
    // it. Knocked from an immediate, so that the loop's next look is at its timers, not its sockets.
    const port = await stoppedListener(511)
    await new Promise((resolve) => setImmediate(resolve))
    const knocked = knock([`/ip4/127.0.0.1/tcp/${port}`], 50)
    stall(300)
    await expect(knocked).resolves.toBeUndefined()
  })
})
