/**
 * Helpers for tests and benchmarks that drive real `gary daemon` processes.
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
export * from './daemon-process.js'
export * from './http.js'
export * from './suspicions.js'
export * from './wait.js'
