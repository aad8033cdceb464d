import { createHash } from 'node:crypto'
import { ContainerNotFoundError, ContainerStartError, ImagePullError, NameConflictError } from './errors.js'
import type {
  ContainerDetails,
  ContainerRuntime,
  ContainerSpec,
  ContainerSummary,
  LogLine,
  LogOptions,
  PublishedPort,
  RuntimeEvent,
  RuntimeEventKind,
  RuntimeInfo,
} from './types.js'

export interface FakeRuntimeInit {
  /** CPU `info()` reports, millicores. Default 4000 (4 cores). */
  cpuMillis?: number
  /** Memory `info()` reports, bytes. Default 8 GiB. */
  memoryBytes?: number
  /**
   * Images present locally. Default: every image is present, so that `--runtime fake` runs any
   * workload. When given, `ensureImage` of another image pulls it from `registry` or throws
   * ImagePullError, and `run` of an image not present throws ImagePullError, as Docker does.
   */
  images?: Iterable<string>
  /** Images a pull finds. Default none: like a machine with no registry. */
  registry?: Iterable<string>
  /** Delay before a restart policy restarts an exited container, ms. Default 100 (Docker's first delay). */
  restartDelayMs?: number
}

export interface FakeRuntimeComponents {
  /** Clock for timestamps, ms since the epoch. Default `Date.now`. */
  now?: () => number
}

/** Exit code of a process stopped with SIGTERM: what Docker reports for `sh` under its init. */
export const STOP_EXIT_CODE = 143
/** Exit code of a killed process (`remove` of a running container). */
export const KILL_EXIT_CODE = 137

interface Statement {
  words: string[]
  toStderr: boolean
}

interface FakeContainer {
  id: string
  spec: ContainerSpec
  createdAt: number
  state: ContainerDetails['state']
  startedAt?: number
  finishedAt?: number
  exitCode?: number
  restartCount: number
  ports: PublishedPort[]
  ipAddress: string
  logs: LogLine[]
  /** Bumped at every start and exit, so that timers of an older run do nothing. */
  generation: number
  timer?: NodeJS.Timeout
  /** Resolves when a pending restart happened (or was cancelled). */
  restarted?: Promise<void>
  settle?: () => void
}

/**
 * An in-memory container engine for unit tests and for running Gary without Docker. It passes
 * the same compliance suite as the Docker driver.
 *
 * Processes are simulated. `sh -c SCRIPT` runs a small subset of shell: commands separated by
 * `;` or newlines, words with '...' and "..." quoting and `$NAME` / `${NAME}` expansion from the
 * container's env, and the commands `echo` (with `>&2` for stderr), `env`, `true`, `false`, `:`,
 * `exit [N]` and `sleep N` (real time; timers are cleared by stop, remove and close). A process
 * exits when its script ends. Any other command runs until stopped: a server, as far as the fake
 * can tell. `crash(id, code)` makes a process exit; restart policies apply after
 * `restartDelayMs`, as Docker's do.
 */
export class FakeRuntime implements ContainerRuntime {
  readonly #containers = new Map<string, FakeContainer>()
  /** undefined: every image is present. */
  readonly #images: Set<string> | undefined
  readonly #registry: Set<string>
  readonly #info: RuntimeInfo
  readonly #restartDelayMs: number
  readonly #now: () => number
  readonly #listeners = new Set<(event: RuntimeEvent) => void>()
  /** Woken whenever a log line is written or a process exits. */
  readonly #logWaiters = new Set<() => void>()
  readonly #closed = new AbortController()
  #created = 0
  #nextHostPort = 32768

  constructor(init: FakeRuntimeInit = {}, components: FakeRuntimeComponents = {}) {
    this.#images = init.images === undefined ? undefined : new Set([...init.images].map(normaliseImage))
    this.#registry = new Set([...(init.registry ?? [])].map(normaliseImage))
    this.#info = {
      driver: 'fake',
      engineVersion: 'fake',
      cpuMillis: init.cpuMillis ?? 4000,
      memoryBytes: init.memoryBytes ?? 8 * 2 ** 30,
    }
    this.#restartDelayMs = init.restartDelayMs ?? 100
    this.#now = components.now ?? Date.now
  }

  async info(signal?: AbortSignal): Promise<RuntimeInfo> {
    signal?.throwIfAborted()
    return { ...this.#info }
  }

  async ensureImage(image: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.#hasImage(image)) return
    if (!this.#registry.has(normaliseImage(image))) {
      throw new ImagePullError(image, 'not found in the fake registry')
    }
    this.addImage(image)
  }

  async run(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary> {
    signal?.throwIfAborted()
    if (!this.#hasImage(spec.image)) {
      throw new ImagePullError(spec.image, 'No such image (ensureImage pulls it)')
    }
    if ([...this.#containers.values()].some((c) => c.spec.name === spec.name)) {
      throw new NameConflictError(spec.name)
    }
    const n = ++this.#created
    const c: FakeContainer = {
      id: createHash('sha256').update(`fake-container-${n}`).digest('hex'),
      spec: structuredClone(spec),
      createdAt: this.#now(),
      state: 'created',
      restartCount: 0,
      ports: [],
      ipAddress: `172.17.${Math.floor((n + 1) / 254) % 256}.${((n + 1) % 254) + 1}`,
      logs: [],
      generation: 0,
    }
    this.#containers.set(c.id, c)
    this.#emit('create', c)
    const taken = this.#takenPorts()
    for (const port of spec.ports ?? []) {
      const protocol = port.protocol ?? 'tcp'
      const hostIp = port.hostIp || '0.0.0.0'
      if (port.hostPort && taken.has(`${port.hostPort}/${protocol}`)) {
        this.#containers.delete(c.id)
        this.#emit('destroy', c)
        throw new ContainerStartError(
          spec.name,
          `Bind for ${hostIp}:${port.hostPort} failed: port is already allocated`,
        )
      }
      let hostPort = port.hostPort || 0
      while (hostPort === 0 || taken.has(`${hostPort}/${protocol}`)) hostPort = this.#nextHostPort++
      taken.add(`${hostPort}/${protocol}`)
      c.ports.push({ containerPort: port.containerPort, hostPort, protocol, hostIp })
    }
    this.#start(c)
    return summary(c)
  }

  async stop(id: string, _timeoutSeconds?: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    const c = this.#get(id)
    if (c.state === 'restarting') {
      // A stop during the restart delay cancels the restart, as in Docker.
      this.#cancelTimer(c)
      c.state = 'exited'
      this.#emit('stop', c)
      return
    }
    if (c.state !== 'running' && c.state !== 'paused') return
    this.#exit(c, STOP_EXIT_CODE, 'stopped')
  }

  async remove(id: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    const c = this.#get(id)
    if (c.state === 'running' || c.state === 'paused') this.#exit(c, KILL_EXIT_CODE, 'removed')
    this.#cancelTimer(c)
    this.#containers.delete(c.id)
    this.#emit('destroy', c)
    this.#wakeLogs()
  }

  async list(labels: Record<string, string>, signal?: AbortSignal): Promise<ContainerSummary[]> {
    signal?.throwIfAborted()
    // Newest first, as Docker lists them.
    return [...this.#containers.values()]
      .filter((c) => hasLabels(c.spec.labels, labels))
      .reverse()
      .map(summary)
  }

  async inspect(id: string, signal?: AbortSignal): Promise<ContainerDetails> {
    signal?.throwIfAborted()
    const c = this.#get(id)
    const up = c.state === 'running' || c.state === 'paused'
    return {
      ...summary(c),
      ...(c.exitCode !== undefined && !up ? { exitCode: c.exitCode } : {}),
      ...(c.startedAt === undefined ? {} : { startedAt: c.startedAt }),
      ...(c.finishedAt === undefined ? {} : { finishedAt: c.finishedAt }),
      restartCount: c.restartCount,
      // Like Docker: ports and address only while the container is up.
      ports: up ? c.ports.map((p) => ({ ...p })) : [],
      ...(up ? { ipAddress: c.ipAddress } : {}),
    }
  }

  events(labels: Record<string, string>, signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    // Subscribed now, not when iteration begins, so that nothing between the two is lost.
    const queue: RuntimeEvent[] = []
    let wake: (() => void) | undefined
    const listener = (event: RuntimeEvent) => {
      if (!hasLabels(event.labels, labels)) return
      queue.push(event)
      wake?.()
    }
    const done = AbortSignal.any([signal, this.#closed.signal])
    if (!done.aborted) this.#listeners.add(listener)
    const listeners = this.#listeners
    return (async function* () {
      const onAbort = () => wake?.()
      done.addEventListener('abort', onAbort)
      try {
        while (!done.aborted) {
          const event = queue.shift()
          if (event !== undefined) {
            yield event
            continue
          }
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          wake = undefined
        }
      } finally {
        listeners.delete(listener)
        done.removeEventListener('abort', onAbort)
      }
    })()
  }

  async *logs(id: string, options: LogOptions = {}): AsyncIterable<LogLine> {
    options.signal?.throwIfAborted()
    const c = this.#get(id)
    const done = AbortSignal.any([options.signal ?? new AbortController().signal, this.#closed.signal])
    const generation = c.generation
    let next = options.tail === undefined ? 0 : Math.max(0, c.logs.length - options.tail)
    for (;;) {
      while (next < c.logs.length) yield { ...c.logs[next++]! }
      // Like Docker: following ends when the process exits, even when a policy restarts it.
      const running = c.state === 'running' && c.generation === generation && this.#containers.has(c.id)
      if (options.follow !== true || done.aborted || !running) return
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#logWaiters.delete(wake)
          done.removeEventListener('abort', wake)
          resolve()
        }
        this.#logWaiters.add(wake)
        done.addEventListener('abort', wake)
      })
    }
  }

  /** Ends open event and log streams and clears every timer. */
  async close(): Promise<void> {
    this.#closed.abort()
    for (const c of this.#containers.values()) this.#cancelTimer(c)
    this.#wakeLogs()
  }

  /** Test control: makes an image present locally. */
  addImage(image: string): void {
    this.#images?.add(normaliseImage(image))
  }

  /** Test control: the container's process writes a line. */
  appendLog(id: string, line: string, stream: LogLine['stream'] = 'stdout'): void {
    this.#log(this.#get(id), line, stream)
  }

  /**
   * Test control: the container's process exits with `code` by itself; its restart policy
   * applies. Resolves once a restart the policy asks for has happened.
   */
  async crash(id: string, code = 1): Promise<void> {
    const c = this.#get(id)
    if (c.state !== 'running') return
    this.#exit(c, code, 'crashed')
    await c.restarted
  }

  #start(c: FakeContainer): void {
    c.generation++
    c.state = 'running'
    c.startedAt = this.#now()
    this.#emit('start', c)
    const command = c.spec.command ?? []
    const script =
      (command[0] === 'sh' || command[0] === '/bin/sh') && command[1] === '-c'
        ? parseScript(command[2] ?? '', c.spec.env ?? {})
        : command.length > 0
          ? [{ words: command, toStderr: false }]
          : []
    // An image's default command is unknown to the fake: a server.
    this.#runScript(c, command.length === 0 ? [{ words: ['serve'], toStderr: false }] : script, 0, 0)
  }

  /** Runs statements from `pc` until the script sleeps, exits or ends. */
  #runScript(c: FakeContainer, script: Statement[], pc: number, status: number): void {
    const generation = c.generation
    for (let i = pc; i < script.length; i++) {
      const { words, toStderr } = script[i]!
      const [name, ...args] = words
      switch (name) {
        case undefined:
          continue
        case 'echo':
        case '/bin/echo':
          this.#log(c, args.join(' '), toStderr ? 'stderr' : 'stdout')
          status = 0
          continue
        case 'env':
          for (const [key, value] of Object.entries(c.spec.env ?? {}))
            this.#log(c, `${key}=${value}`, 'stdout')
          status = 0
          continue
        case 'true':
        case ':':
          status = 0
          continue
        case 'false':
          status = 1
          continue
        case 'exit': {
          const code = args[0] === undefined ? status : Number.parseInt(args[0], 10)
          this.#exit(c, Number.isNaN(code) ? 2 : code & 0xff, 'crashed')
          return
        }
        case 'sleep': {
          const seconds = Number(args[0])
          if (!Number.isFinite(seconds) || seconds < 0) return
          c.timer = setTimeout(() => {
            c.timer = undefined
            if (c.generation === generation && c.state === 'running') this.#runScript(c, script, i + 1, 0)
          }, seconds * 1000)
          c.timer.unref()
          return
        }
        default:
          // A command the fake does not know: it runs until stopped.
          return
      }
    }
    this.#exit(c, status, 'crashed')
  }

  #exit(c: FakeContainer, code: number, how: 'stopped' | 'removed' | 'crashed'): void {
    this.#cancelTimer(c)
    c.generation++
    c.state = 'exited'
    c.exitCode = code
    c.finishedAt = this.#now()
    this.#emit('die', c, code)
    this.#wakeLogs()
    if (how === 'stopped') this.#emit('stop', c)
    if (how !== 'crashed' || !shouldRestart(c, code) || this.#closed.signal.aborted) return
    c.state = 'restarting'
    c.restarted = new Promise((resolve) => {
      c.settle = resolve
    })
    c.timer = setTimeout(() => {
      const settle = c.settle
      c.timer = undefined
      c.restarted = undefined
      c.settle = undefined
      if (c.state === 'restarting' && this.#containers.has(c.id)) {
        c.restartCount++
        this.#start(c)
      }
      settle?.()
    }, this.#restartDelayMs)
    c.timer.unref()
  }

  #cancelTimer(c: FakeContainer): void {
    if (c.timer !== undefined) clearTimeout(c.timer)
    c.settle?.()
    c.timer = undefined
    c.restarted = undefined
    c.settle = undefined
  }

  #log(c: FakeContainer, line: string, stream: LogLine['stream']): void {
    c.logs.push({ stream, line })
    this.#wakeLogs()
  }

  #wakeLogs(): void {
    for (const wake of [...this.#logWaiters]) wake()
  }

  #takenPorts(): Set<string> {
    const taken = new Set<string>()
    for (const c of this.#containers.values()) {
      if (c.state !== 'running' && c.state !== 'paused' && c.state !== 'restarting') continue
      for (const p of c.ports) taken.add(`${p.hostPort}/${p.protocol}`)
    }
    return taken
  }

  #hasImage(image: string): boolean {
    return this.#images === undefined || this.#images.has(normaliseImage(image))
  }

  /** By id, name, or unique id prefix, as Docker finds containers. */
  #get(id: string): FakeContainer {
    const exact = this.#containers.get(id) ?? [...this.#containers.values()].find((c) => c.spec.name === id)
    if (exact !== undefined) return exact
    const byPrefix = id === '' ? [] : [...this.#containers.values()].filter((c) => c.id.startsWith(id))
    if (byPrefix.length !== 1) throw new ContainerNotFoundError(id)
    return byPrefix[0]!
  }

  #emit(kind: RuntimeEventKind, c: FakeContainer, exitCode?: number): void {
    const event: RuntimeEvent = {
      kind,
      containerId: c.id,
      labels: { ...c.spec.labels },
      at: this.#now(),
      ...(exitCode === undefined ? {} : { exitCode }),
    }
    for (const listener of this.#listeners) listener({ ...event, labels: { ...event.labels } })
  }
}

/** True when `actual` carries every label in `wanted`. */
export function hasLabels(actual: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([key, value]) => actual[key] === value)
}

function shouldRestart(c: FakeContainer, code: number): boolean {
  const policy = c.spec.restart?.policy ?? 'no'
  if (policy === 'always' || policy === 'unless-stopped') return true
  if (policy !== 'on-failure' || code === 0) return false
  const max = c.spec.restart?.maxRetries ?? 0
  return max === 0 || c.restartCount < max
}

function summary(c: FakeContainer): ContainerSummary {
  return {
    id: c.id,
    name: c.spec.name,
    image: c.spec.image,
    labels: { ...c.spec.labels },
    state: c.state,
    createdAt: c.createdAt,
  }
}

/** `busybox` and `busybox:latest` are one image. */
function normaliseImage(image: string): string {
  if (image.includes('@')) return image
  return image.lastIndexOf(':') > image.lastIndexOf('/') ? image : `${image}:latest`
}

/** Parses the fake's shell subset (see FakeRuntime) into statements, expanding variables. */
export function parseScript(script: string, env: Record<string, string>): Statement[] {
  const statements: Statement[] = []
  let words: string[] = []
  let word = ''
  let inWord = false
  let quote: "'" | '"' | undefined
  const endWord = () => {
    if (inWord) words.push(word)
    word = ''
    inWord = false
  }
  const endStatement = () => {
    endWord()
    const toStderr = words.some((w) => w === '>&2' || w === '1>&2')
    const kept = words.filter((w) => w !== '>&2' && w !== '1>&2')
    if (kept.length > 0) statements.push({ words: kept, toStderr })
    words = []
  }
  for (let i = 0; i < script.length; i++) {
    const ch = script[i]!
    if (quote === "'") {
      if (ch === "'") quote = undefined
      else word += ch
      continue
    }
    if (ch === '\\' && i + 1 < script.length) {
      word += script[++i]
      inWord = true
      continue
    }
    if (ch === '$') {
      const braced = /^\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(script.slice(i + 1))
      const plain = /^[A-Za-z_][A-Za-z0-9_]*/.exec(script.slice(i + 1))
      const match = braced ?? plain
      if (match !== null) {
        word += env[braced?.[1] ?? match[0]] ?? ''
        inWord = true
        i += match[0].length
        continue
      }
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined
      else word += ch
      continue
    }
    if (ch === "'" || ch === '"') {
      quote = ch
      inWord = true
    } else if (ch === ';' || ch === '\n') {
      endStatement()
    } else if (ch === ' ' || ch === '\t') {
      endWord()
    } else if (ch === '#' && !inWord) {
      while (i + 1 < script.length && script[i + 1] !== '\n') i++
    } else {
      word += ch
      inWord = true
    }
  }
  endStatement()
  return statements
}
