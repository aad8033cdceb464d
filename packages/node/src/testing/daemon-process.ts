import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait.js'

export const GARY_BIN = fileURLToPath(new URL('../../bin/gary.js', import.meta.url))

export interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

export interface DaemonOptions {
  dataDir: string
  join?: string[]
  args?: string[]
  /** Environment beyond the caller's, whose GARY_* settings a test daemon never inherits. */
  env?: Record<string, string>
  /** Fault hooks to turn on: their GARY_TEST_* variables, with the test-only `--test-hooks`. */
  testHooks?: { partition?: boolean; dropDeclGossip?: number; wallOffsetMs?: number }
  /** How long `start()` waits for the API to listen. Default 30 s: on a 2-core host loaded by other work a start took over 15 s. */
  startTimeoutMs?: number
  /** The `gary` executable to run. Default: this checkout's `bin/gary.js`, under this Node. */
  bin?: string
  /** Working directory of the process. Default: the test's. */
  cwd?: string
}

/**
 * The caller's environment without its GARY_* settings: a test daemon or CLI is set up by its
 * test alone (an inherited `GARY_LOG_LEVEL=warn` made a check for an absent log line pass).
 */
export function withoutGarySettings(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const [key, value] of Object.entries(env))
    if (!key.startsWith('GARY_') && value !== undefined) kept[key] = value
  return kept
}

/** One real `gary daemon` process on loopback, with its JSON log captured line by line. */
export class DaemonProcess {
  readonly logs: LogLine[] = []
  stderr = ''
  api = ''
  joinAddr = ''
  peerId = ''
  #process?: ChildProcess
  #exited?: Promise<number | null>

  constructor(readonly options: DaemonOptions) {}

  static async tempDir(prefix = 'gary-test-'): Promise<string> {
    return mkdtemp(join(tmpdir(), prefix))
  }

  /** Starts the process; resolves once its API listens (or rejects with what it printed). */
  async start(): Promise<this> {
    this.logs.length = 0
    this.stderr = ''
    const args = [
      'daemon',
      '--runtime',
      'fake',
      '--data-dir',
      this.options.dataDir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api',
      '127.0.0.1:0',
      ...(this.options.join ?? []).flatMap((addr) => ['--join', addr]),
      ...(this.options.testHooks === undefined ? [] : ['--test-hooks']),
      // Tests on the host never write its firewall, whatever a test's own flags say of addresses.
      ...((this.options.args ?? []).includes('--mesh') ? [] : ['--mesh', 'userland']),
      ...(this.options.args ?? []),
    ]
    const [file, argv] =
      this.options.bin === undefined ? [process.execPath, [GARY_BIN, ...args]] : [this.options.bin, args]
    const { partition, dropDeclGossip, wallOffsetMs } = this.options.testHooks ?? {}
    const child = spawn(file, argv, {
      env: {
        ...withoutGarySettings(),
        GARY_LOG_FORMAT: 'json',
        ...(partition === true ? { GARY_TEST_PARTITION: '1' } : {}),
        ...(dropDeclGossip === undefined ? {} : { GARY_TEST_DROP_DECL_GOSSIP: String(dropDeclGossip) }),
        ...(wallOffsetMs === undefined ? {} : { GARY_TEST_WALL_OFFSET_MS: String(wallOffsetMs) }),
        ...this.options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.options.cwd === undefined ? {} : { cwd: this.options.cwd }),
    })
    this.#process = child
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    let buffer = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        try {
          this.logs.push(JSON.parse(line) as LogLine)
        } catch {
          this.logs.push({ level: 30, msg: line })
        }
      }
    })
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk
    })
    let exitCode: number | null | undefined
    void this.#exited.then((code) => {
      exitCode = code
    })
    const started = await waitFor(
      `daemon in ${this.options.dataDir} to start`,
      () => {
        if (exitCode !== undefined) return { exited: exitCode }
        const api = this.logs.find((line) => line.msg === 'api listening')
        const start = this.logs.find((line) => line.msg === 'started')
        return api !== undefined && start !== undefined ? { api, start } : undefined
      },
      { timeoutMs: this.options.startTimeoutMs ?? 30_000 },
    ).catch(async (err: unknown) => {
      // A daemon that did not start in time is no caller's to clean up: it would outlive the test.
      await this.kill('SIGKILL')
      const last = this.logs.at(-1)
      throw new Error(`${(err as Error).message}; its last log line: ${last?.msg ?? 'none'}`)
    })
    if ('exited' in started) throw new Error(`daemon exited with ${started.exited}: ${this.stderr}`)
    this.api = started.api.api as string
    this.peerId = started.start.node as string
    this.joinAddr = (started.start.addrs as string[])[0] ?? ''
    return this
  }

  /** Runs the CLI against this daemon and parses its JSON output. */
  async cli<T>(...args: string[]): Promise<T> {
    const stdout = await runCli([...args, '--api', this.api, '--json'])
    return JSON.parse(stdout) as T
  }

  hasLog(msg: string, fields: Record<string, unknown> = {}): boolean {
    return this.logs.some(
      (line) => line.msg === msg && Object.entries(fields).every(([k, v]) => line[k] === v),
    )
  }

  get running(): boolean {
    return this.#process !== undefined && this.#process.exitCode === null && this.#process.signalCode === null
  }

  get pid(): number | undefined {
    return this.#process?.pid
  }

  /** Sends a signal and waits for the exit; a stopped process is continued, a stuck one killed after 10 s. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (!this.running) return this.#process?.exitCode ?? null
    this.#process!.kill(signal)
    this.#process!.kill('SIGCONT')
    const stuck = setTimeout(() => this.#process?.kill('SIGKILL'), 10_000)
    try {
      return await this.#exited!
    } finally {
      clearTimeout(stuck)
    }
  }
}

/** Runs `gary ...` and returns stdout; rejects with stderr on a non-zero exit. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [GARY_BIN, ...args],
      { env: { ...withoutGarySettings(), ...env } },
      (err, stdout, stderr) => {
        if (err) reject(Object.assign(new Error(stderr || err.message), { code: err.code, stdout, stderr }))
        else resolve(stdout)
      },
    )
  })
}

/** Stops every daemon and removes their data dirs. */
export async function cleanup(daemons: DaemonProcess[], dirs: string[]): Promise<void> {
  await Promise.all(daemons.map((daemon) => daemon.kill('SIGTERM')))
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
}
