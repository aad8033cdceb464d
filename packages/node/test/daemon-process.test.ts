import { afterAll, describe, expect, it } from 'vitest'
import { cleanup, DaemonProcess } from '../src/testing/index.js'

describe('the tests’ daemon process', () => {
  const dirs: string[] = []
  afterAll(() => cleanup([], dirs))

  it('kills a daemon that did not start in time, so it cannot outlive the test', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    const daemon = new DaemonProcess({ dataDir: dir, startTimeoutMs: 1 })
    await expect(daemon.start()).rejects.toThrow(/to start.*last log line/)
    expect(daemon.pid).toBeDefined()
    expect(daemon.running).toBe(false)
    expect(() => process.kill(daemon.pid!, 0)).toThrow()
  })
})
