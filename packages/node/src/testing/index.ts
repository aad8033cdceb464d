/**
 * Helpers for tests and benchmarks: real `gary daemon` processes, and for the agents an in-memory
 * network on a stepped clock.
 *
 * @example
 * ```ts
 * import { DaemonProcess, waitFor } from '@gary/node/testing'
 *
 * const a = await new DaemonProcess({ dataDir: await DaemonProcess.tempDir() }).start()
 * await waitFor('a to list itself', async () => (await a.cli<unknown[]>('nodes')).length === 1)
 * await a.kill('SIGTERM')
 * ```
 */

export * from './agent-net.js'
export * from './daemon-process.js'
export * from './http.js'
export * from './recording-port.js'
export * from './stepped-clock.js'
export * from './suspicions.js'
export * from './taken-port.js'
export * from './wait.js'
