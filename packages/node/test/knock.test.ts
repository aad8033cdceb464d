import { spawn } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { afterAll, describe, expect, test } from 'vitest'
import { knock } from '../src/net/knock.js'
import { waitFor } from '../src/testing/wait.js'

const listening = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  )

describe('knocking at a machine', () => {
  const stopped: number[] = []
  afterAll(() => {
    for (const pid of stopped) {
      process.kill(pid, 'SIGCONT')
      process.kill(pid, 'SIGKILL')
    }
  })

  test('a machine whose process is stopped still answers (its kernel accepts); a closed port and a machine that is not there do not', async () => {
    // A listener in a process of its own, then SIGSTOP: its event loop runs nothing at all.
    const child = spawn(
      process.execPath,
      [
        '-e',
        "require('node:net').createServer().listen(0, '127.0.0.1', function () { console.log(this.address().port) })",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    await waitFor('the listener to print its port', () => out.includes('\n'))
    const port = Number(out.trim())
    stopped.push(child.pid as number)
    process.kill(child.pid as number, 'SIGSTOP')
    await expect(knock([`/ip4/127.0.0.1/tcp/${port}`], 1000)).resolves.toBeUndefined()

    const closed = createServer()
    const closedPort = await listening(closed)
    await new Promise((resolve) => closed.close(resolve))
    await expect(knock([`/ip4/127.0.0.1/tcp/${closedPort}`], 1000)).rejects.toHaveProperty(
      'name',
      'NoAnswerError',
    )
    // TEST-NET-1: nothing answers there.
    await expect(knock(['/ip4/192.0.2.1/tcp/4279'], 150)).rejects.toHaveProperty('name', 'NoAnswerError')
    await expect(knock(['/ip4/127.0.0.1/udp/4279/quic-v1'], 150)).rejects.toHaveProperty(
      'name',
      'NoAnswerError',
    )
  })

  test('one address that answers is enough', async () => {
    const server = createServer()
    const port = await listening(server)
    try {
      await expect(
        knock(['/ip4/192.0.2.1/tcp/4279', `/ip4/127.0.0.1/tcp/${port}`, 'not an address'], 1000),
      ).resolves.toBeUndefined()
    } finally {
      server.close()
    }
  })
})
