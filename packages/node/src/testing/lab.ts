import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { DockerRuntime } from '@gary/runtime/docker'
import type { LogLine } from './daemon-process.js'
import { waitFor } from './wait.js'

/** `scripts/lab.sh`, from this file in `src/testing` or `dist/testing`. */
export const LAB_SH = fileURLToPath(new URL('../../../../scripts/lab.sh', import.meta.url))
const ROOT = '/var/lib/gary-lab'
/** Gary's defaults, as every machine of the lab runs it. */
const API = '127.0.0.1:7947'

/** The lab could not be made or driven; the message says what to do. */
export class LabError extends Error {
  override name = 'LabError'
}

/**
 * Machines on this host, made by `scripts/lab.sh` (each with its own network, PID and mount
 * namespaces, address and Docker engine), and the Gary daemon on each. Machines are numbered from
 * 1. The lab is held by this process (its owner lock) until `down()`, or until the process dies:
 * then the next `up` of the same lab cleans up what is left.
 *
 * @example
 * ```ts
 * const lab = await Lab.up(3)
 * await lab.startDaemon(1)
 * const [seed] = await lab.joinAddrs(1)
 * await Promise.all([2, 3].map((i) => lab.startDaemon(i, ['--join', seed!])))
 * await lab.poweroff(2)
 * await lab.down()
 * ```
 */
export class Lab {
  readonly #engines = new Map<number, DockerRuntime>()
  readonly #owner: ChildProcess

  private constructor(
    readonly id: number,
    readonly size: number,
    owner: ChildProcess,
  ) {
    this.#owner = owner
  }

  /** Tears down whatever a previous lab left, and makes `size` machines with the test image loaded. */
  static async up(size: number, options: { timeoutMs?: number } = {}): Promise<Lab> {
    if (process.getuid?.() !== 0)
      throw new LabError('the lab needs root (it makes network, PID and mount namespaces): run as root')
    const { id, owner } = await holdLab()
    const lab = new Lab(id, size, owner)
    try {
      await lab.sh(['up', String(size)], options.timeoutMs ?? 180_000)
    } catch (err) {
      await lab.down().catch(() => {})
      throw new LabError(`the lab did not come up: ${(err as Error).message}`)
    }
    return lab
  }

  /** Machines 1..size. */
  get machines(): number[] {
    return Array.from({ length: this.size }, (_, i) => i + 1)
  }

  /** Machine `i`'s address on the lab's network. */
  address(i: number): string {
    return `10.213.${100 + this.id}.${10 + i}`
  }

  /** Machine `i`'s Docker engine, through its socket (the host reaches it without the network). */
  engine(i: number): DockerRuntime {
    let engine = this.#engines.get(i)
    if (engine === undefined) {
      engine = new DockerRuntime({ socketPath: `${ROOT}/${this.id}/m${i}/docker.sock` })
      this.#engines.set(i, engine)
    }
    return engine
  }

  /** Runs `scripts/lab.sh ARGS` for this lab; resolves with its stdout. */
  sh(args: string[], timeoutMs = 60_000, hooks: Record<string, number> = {}): Promise<string> {
    return run('bash', [LAB_SH, ...args], {
      env: {
        ...process.env,
        ...Object.fromEntries(Object.entries(hooks).map(([name, value]) => [name, String(value)])),
        GARY_LAB_ID: String(this.id),
        GARY_LAB_OWNER: '1',
      },
      timeoutMs,
    })
  }

  /** Runs a command on machine `i` (in all its namespaces); resolves with its stdout. */
  exec(i: number, command: string[], timeoutMs = 30_000): Promise<string> {
    return this.sh(['exec', String(i), ...command], timeoutMs)
  }

  /** Runs this checkout's `gary ARGS` on machine `i`, against its daemon at the default API address. */
  gary(i: number, args: string[], timeoutMs = 30_000): Promise<string> {
    return this.sh(['gary', String(i), ...args], timeoutMs)
  }

  /** Runs `gary ARGS` on machine `i` whatever its exit: its code, stdout and stderr. */
  garyExit(
    i: number,
    args: string[],
    timeoutMs = 30_000,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        'bash',
        [LAB_SH, 'gary', String(i), ...args],
        {
          env: { ...process.env, GARY_LAB_ID: String(this.id), GARY_LAB_OWNER: '1' },
          timeout: timeoutMs,
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
          resolve({ code, stdout, stderr })
        },
      )
    })
  }

  /** `gary ARGS --json` on machine `i`, parsed. */
  async garyJson<T>(i: number, ...args: string[]): Promise<T> {
    return JSON.parse(await this.gary(i, [...args, '--json'])) as T
  }

  /** A GET of machine `i`'s API, from inside the machine (curl: cheaper than the CLI for polling). */
  async api<T>(i: number, path: string): Promise<T> {
    return JSON.parse(await this.exec(i, ['curl', '-fsS', '--max-time', '5', `http://${API}${path}`])) as T
  }

  /**
   * Starts `gary daemon ARGS` on machine `i` (no ARGS: at its defaults) and waits for its API. A
   * `boot` starts it again with the same ARGS (not `hooks`: GARY_TEST_* fault hooks, which need
   * `--test-hooks` in ARGS).
   */
  async startDaemon(i: number, args: string[] = [], hooks: Record<string, number> = {}): Promise<void> {
    const mark = (await this.logs(i)).length
    await this.sh(['daemon', String(i), 'start', ...args], 60_000, hooks)
    await this.#waitStarted(i, mark)
  }

  /** SIGTERM: the daemon stops cleanly (its containers keep running). */
  async stopDaemon(i: number): Promise<void> {
    await this.sh(['daemon', String(i), 'stop'])
  }

  /** SIGKILL: the daemon dies at once (its containers keep running); `startDaemon` starts it again. */
  async killDaemon(i: number): Promise<void> {
    await this.sh(['daemon', String(i), 'kill'])
  }

  /** Powers machine `i` off: daemon, engine and containers gone at once, silently for the others. */
  async poweroff(i: number): Promise<void> {
    await this.sh(['poweroff', String(i)])
  }

  /** Powers machine `i` on: its engine, then its daemon if one ran; waits for the daemon's API. */
  async boot(i: number): Promise<void> {
    const mark = (await this.logs(i)).length
    await this.sh(['boot', String(i)], 120_000)
    if ((await this.sh(['daemon', String(i), 'pid'])).trim() !== '') await this.#waitStarted(i, mark)
  }

  /** Unplugs machine `i`'s cable: nothing in or out, no RST; it keeps running. */
  async cut(i: number): Promise<void> {
    await this.sh(['cut', String(i)])
  }

  /** Plugs machine `i`'s cable back, or every cable (and ends any partition) without `i`. */
  async heal(i?: number): Promise<void> {
    await this.sh(i === undefined ? ['heal'] : ['heal', String(i)])
  }

  /** The switch drops traffic between the groups: `[[1, 2], [3, 4, 5]]`; `[]` ends it. */
  async partition(groups: number[][]): Promise<void> {
    await this.sh(['partition', groups.length === 0 ? 'none' : groups.map((g) => g.join(',')).join('|')])
  }

  /** Writes a file into machine `i`'s /root (its home, where Gary keeps its data); returns its path there. */
  async put(i: number, name: string, text: string): Promise<string> {
    if (!/^[\w.-]+$/.test(name)) throw new LabError(`"${name}" is not a plain file name`)
    await writeFile(`${this.rootDir(i)}/${name}`, text)
    return `/root/${name}`
  }

  /** Machine `i`'s /root (its home, where Gary keeps its data) as this host sees it. */
  rootDir(i: number): string {
    return `${ROOT}/${this.id}/m${i}/root`
  }

  /** Every JSON line machine `i`'s daemons have logged (all its runs, oldest first). */
  async logs(i: number): Promise<LogLine[]> {
    let text: string
    try {
      text = await readFile(`${ROOT}/${this.id}/m${i}/gary.log`, 'utf8')
    } catch {
      return []
    }
    const lines: LogLine[] = []
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue
      try {
        lines.push(JSON.parse(line) as LogLine)
      } catch {
        lines.push({ level: 30, msg: line })
      }
    }
    return lines
  }

  /** The peer id of the daemon that last started on machine `i`. */
  async nodeId(i: number): Promise<string> {
    const started = (await this.logs(i)).filter((line) => line.msg === 'started').at(-1)
    if (started === undefined) throw new LabError(`no daemon has started on machine ${i}`)
    return started.node as string
  }

  /** What `gary id` prints on machine `i`, one address a line. */
  async joinAddrs(i: number): Promise<string[]> {
    return (await this.gary(i, ['id'])).trim().split('\n')
  }

  /** Tears the lab down (every machine, its engine and data) and lets another process have it. */
  async down(): Promise<void> {
    for (const engine of this.#engines.values()) await engine.close()
    this.#engines.clear()
    try {
      await this.sh(['down'], 120_000)
    } finally {
      this.#owner.stdin?.end()
    }
  }

  async #waitStarted(i: number, mark: number): Promise<void> {
    await waitFor(
      `the daemon on machine ${i} to start`,
      async () => {
        const lines = (await this.logs(i)).slice(mark)
        // The API listens before the daemon has started (it answers 503 until then).
        if (lines.some((line) => line.msg === 'started')) return true
        if ((await this.sh(['daemon', String(i), 'pid'])).trim() === '')
          throw new LabError(
            `the daemon on machine ${i} exited: ${lines
              .slice(-5)
              .map((l) => l.msg)
              .join(' / ')}`,
          )
        return false
      },
      // A start took over 30 s on this 2-core host at load 45.
      { timeoutMs: 90_000, intervalMs: 100 },
    )
  }
}

/**
 * Takes the owner lock of the first free lab (or of GARY_LAB_ID's): a `flock` holder that lives as
 * long as this process holds its stdin, so a dead test frees the lab for the next one.
 */
async function holdLab(): Promise<{ id: number; owner: ChildProcess }> {
  await mkdir(ROOT, { recursive: true })
  const wanted = process.env.GARY_LAB_ID
  if (wanted !== undefined && wanted !== '' && !/^\d$/.test(wanted))
    throw new LabError(`GARY_LAB_ID must be a digit 0-9, not "${wanted}"`)
  const ids = wanted === undefined || wanted === '' ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] : [Number(wanted)]
  for (const id of ids) {
    const owner = spawn(
      'flock',
      ['-n', `${ROOT}/${id}.owner`, 'sh', '-c', 'echo held; exec cat >/dev/null'],
      {
        stdio: ['pipe', 'pipe', 'ignore'],
      },
    )
    const held = await new Promise<boolean>((resolve) => {
      owner.stdout!.once('data', () => resolve(true))
      owner.once('exit', () => resolve(false))
      owner.once('error', () => resolve(false))
    })
    if (!held) continue
    // The holder must not keep this process alive, only the lab held while it lives.
    owner.unref()
    for (const stream of [owner.stdin, owner.stdout]) (stream as unknown as { unref(): void }).unref()
    return { id, owner }
  }
  throw new LabError(`every lab (${ids.join(', ')}) is held by another test or benchmark`)
}

function run(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: options.env, timeout: options.timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const what = `${args.slice(1, 4).join(' ')}${args.length > 4 ? ' ...' : ''}`
          reject(new LabError(`lab.sh ${what} failed: ${(stderr || err.message).trim()}`))
        } else resolve(stdout)
      },
    )
  })
}
