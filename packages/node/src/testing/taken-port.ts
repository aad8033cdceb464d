import { createServer } from 'node:net'

/**
 * A loopback port held as another process would hold it: a listener kept open until `close`, for
 * tests of what the daemon does when an address it wants is in use.
 */
export async function takenPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}
