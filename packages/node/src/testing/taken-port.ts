import { createServer } from 'node:net'

/**
 * A loopback port held as another process would hold it: a listener kept open until `close`, for
 * tests of what the daemon does when an address it wants is in use.
 */
export async function takenPort(host = '127.0.0.1'): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as { port: number }
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

/**
 * A port nothing listens on now (connections to it are refused), on `host`: the wildcard address
 * for a port an engine will publish on every address.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const { port, close } = await takenPort(host)
  await close()
  return port
}
