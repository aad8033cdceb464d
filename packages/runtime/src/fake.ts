import { createHash } from 'node:crypto'
import {
  ContainerNotFoundError,
  ContainerStartError,
  ImagePullError,
  NameConflictError,
  RegistryAuthError,
  VolumeInUseError,
  VolumeNotFoundError,
} from './errors.js'
import { registryOfImage } from './registry.js'
import type {
  ContainerDetails,
  ContainerRuntime,
  ContainerSpec,
  ContainerSummary,
  HealthStatus,
  LogLine,
  LogOptions,
  Mount,
  PublishedPort,
  RegistryAuth,
  RuntimeEvent,
  RuntimeEventKind,
  RuntimeInfo,
  VolumeSummary,
} from './types.js'

/**
 * Timers with the shape of the global `setTimeout` and `clearTimeout`. The node's reconcile
 * `Clock` has this shape too, so a simulator can hand one virtual clock to both.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export interface FakeRuntimeInit {
  /** CPU `info()` reports, millicores. Default 4000 (4 cores). */
  cpuMillis?: number
  /** Memory `info()` reports, bytes. Default 8 GiB. */
  memoryBytes?: number
  /** The gateway `info()` reports. Default none: a fake container reaches no host. */
  gateway?: string
  /**
   * Images present locally. Default: every image is present, so that `--runtime fake` runs any
   * workload. When given, `ensureImage` of another image pulls it from `registry` or throws
   * ImagePullError, and `create` or `run` of an image not present throws ImagePullError, as
   * Docker does.
   */
  images?: Iterable<string>
  /** Images a pull finds. Default none: like a machine with no registry. */
  registry?: Iterable<string>
  /**
   * Registries (`ghcr.io`, `127.0.0.1:5000`) whose pulls need these credentials: a pull from one
   * without them, or with others, throws RegistryAuthError. Default none.
   */
  logins?: Record<string, { username: string; password: string }>
  /** Delay before a restart policy restarts an exited container, ms. Default 100 (Docker's first delay). */
  restartDelayMs?: number
  /**
   * How long a start takes, ms, on `timers`: `start` and `run` resolve only after it. Meanwhile
   * the container keeps its state (`created`, or `exited` when it ran before) and binds no port,
   * and `stop`, `remove` and another `start` of it wait for the start to end, as Docker's do.
   * Starts run one at a time, in the order asked, as a Docker engine does most of a start's work
   * (about 165 ms each on our 2-core machines): ten starts asked at once end after ten delays.
   * Default 0: a start completes within the call, with no timer.
   */
  startDelayMs?: number
  /**
   * Probability, 0 to 1, that a start fails with ContainerStartError. One number is drawn from
   * `random` at the end of each start (none when the rate is 0). A failed start leaves the
   * container as it was; `run` then removes it, as the Docker driver does. Default 0.
   */
  startFailureRate?: number
}

export interface FakeRuntimeComponents {
  /** Clock for timestamps, ms since the epoch. Default `Date.now`. */
  now?: () => number
  /**
   * Every timer the fake sets: start delays, restart delays and `sleep` in scripts, so that a
   * simulator can drive the fake from a virtual clock. Default the global `setTimeout` and
   * `clearTimeout`. The fake calls `unref()` on a handle that has one, except a start delay's: a
   * container's `sleep` must not keep a process alive, a start someone awaits must.
   */
  timers?: Timers
  /** Uniform numbers in [0, 1) from which start failures are drawn. Default `Math.random`. */
  random?: () => number
}

/** Exit code of a process stopped with SIGTERM: what Docker reports for `sh` under its init. */
export const STOP_EXIT_CODE = 143
/** Exit code of a killed process (`remove` of a running container). */
export const KILL_EXIT_CODE = 137

const GLOBAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}
// Shared by every instance given no registry: a simulator makes thousands of them.
const NO_IMAGES: ReadonlySet<string> = new Set()

interface Statement {
  words: string[]
  toStderr: boolean
  /** `> FILE`: the output goes to this file of the container instead. */
  toFile?: string
}

/** Files of a simulated file system: path (below its root) to content. */
type Files = Map<string, string>

interface FakeContainer {
  id: string
  spec: ContainerSpec
  createdAt: number
  state: ContainerDetails['state']
  startedAt?: number
  finishedAt?: number
  exitCode?: number
  restartCount: number
  /** Bound at each start, as Docker binds them. */
  ports: PublishedPort[]
  ipAddress: string
  logs: LogLine[]
  /** What it wrote outside its mounts: gone with the container, as its writable layer is. */
  files: Files
  /** Bumped at every start and exit, so that timers of an older run do nothing. */
  generation: number
  /** The pending `sleep` or restart, a handle from `timers`. */
  timer?: unknown
  /** Resolves when a pending restart happened (or was cancelled). */
  restarted?: Promise<void>
  settle?: () => void
  /** Present while a start waits out `startDelayMs`. */
  starting?: PendingStart
  /** The health check's verdict while it runs, as Docker keeps it: `starting` until a check ends. */
  health?: HealthStatus
  /** Checks failed in a row. */
  failingStreak: number
  /** The next health check, a handle from `timers`. */
  healthTimer?: unknown
}

interface PendingStart {
  /** Resolves, never rejects, once the start has succeeded, failed or been cancelled. */
  settled: Promise<void>
  /** Ends the start now: clears its timer and rejects its caller with `reason`. */
  cancel(reason: unknown): void
}

/**
 * An in-memory container engine for unit tests, for running Gary without Docker, and for a
 * discrete-event simulator that runs thousands of them on a virtual clock. It passes the same
 * compliance suite as the Docker driver.
 *
 * Processes are simulated. `sh -c SCRIPT` runs a small subset of shell: commands separated by
 * `;` or newlines, words with '...' and "..." quoting and `$NAME` / `${NAME}` expansion from the
 * container's env, and the commands `echo` (with `>&2` for stderr), `env`, `true`, `false`, `:`,
 * `exit [N]`, `sleep N`, `cat FILE`, `echo ... > FILE` (`: > FILE` empties it) and `test -f|-s
 * FILE` (or `[ ... ]`) (files of the container's mounts, or of its own layer, which goes with it;
 * a read-only mount refuses the write). A process exits when its script ends. Any other command runs until
 * stopped: a server, as far as the fake can tell. `crash(id, code)` makes a process exit; restart
 * policies apply after `restartDelayMs`, as Docker's do.
 *
 * Health checks run as Docker runs them: `starting` from each start, a check every `intervalMs`
 * (the first one interval after the start), `healthy` after a check that exits 0, `unhealthy`
 * after `retries` failures in a row, a `health` event at each change, nothing once the process
 * exits. A check is a command of the same subset, run at once (a `sleep` at least as long as
 * the timeout fails it); a command the fake does not know passes.
 *
 * Time: every timer (a `sleep`, a restart delay, a start's `startDelayMs`) is set on the injected
 * `timers` and cleared by stop, remove and close; timestamps come from `now`. With a virtual clock
 * and a seeded `random` the fake is deterministic. It is cheap to keep many: an instance sets no
 * timer and holds about 1 KB until its containers need more.
 *
 * Starts can be made slow (`startDelayMs`, one start at a time, as an engine's) and unreliable
 * (`startFailureRate`). A start binds
 * host ports, fails with ContainerStartError when one is taken, and resets `restartCount`, as in
 * Docker; a start of a running or restarting container does nothing (Docker answers 304).
 */
export class FakeRuntime implements ContainerRuntime {
  readonly #containers = new Map<string, FakeContainer>()
  readonly #volumes = new Map<string, { labels: Record<string, string>; files: Files }>()
  /** The host's files that bind mounts show, by absolute path (`writeHostFile`). */
  readonly #hostFiles: Files = new Map()
  /** undefined: every image is present. */
  readonly #images: Set<string> | undefined
  readonly #registry: ReadonlySet<string>
  readonly #logins: Map<string, { username: string; password: string }>
  readonly #info: RuntimeInfo
  readonly #restartDelayMs: number
  readonly #startDelayMs: number
  readonly #startFailureRate: number
  readonly #now: () => number
  readonly #timers: Timers
  readonly #random: () => number
  readonly #listeners = new Set<(event: RuntimeEvent) => void>()
  /** Woken whenever a log line is written or a process exits. */
  readonly #logWaiters = new Set<() => void>()
  readonly #closed = new AbortController()
  /** Delayed starts waiting for the one in progress, oldest first: each begins its delay when called. */
  readonly #startQueue: (() => void)[] = []
  /** A delayed start is in progress (its timer set). */
  #startBusy = false
  #created = 0
  #nextHostPort = 32768

  constructor(init: FakeRuntimeInit = {}, components: FakeRuntimeComponents = {}) {
    const startDelayMs = init.startDelayMs ?? 0
    const startFailureRate = init.startFailureRate ?? 0
    if (!(Number.isFinite(startDelayMs) && startDelayMs >= 0)) {
      throw new RangeError(`startDelayMs must be a number of ms, 0 or more; got ${init.startDelayMs}`)
    }
    if (!(startFailureRate >= 0 && startFailureRate <= 1)) {
      throw new RangeError(`startFailureRate must be a probability from 0 to 1; got ${init.startFailureRate}`)
    }
    this.#images = init.images === undefined ? undefined : new Set([...init.images].map(normaliseImage))
    this.#registry = init.registry === undefined ? NO_IMAGES : new Set([...init.registry].map(normaliseImage))
    this.#logins = new Map(Object.entries(init.logins ?? {}))
    this.#info = {
      driver: 'fake',
      engineVersion: 'fake',
      cpuMillis: init.cpuMillis ?? 4000,
      memoryBytes: init.memoryBytes ?? 8 * 2 ** 30,
      ...(init.gateway === undefined ? {} : { gateway: init.gateway }),
    }
    this.#restartDelayMs = init.restartDelayMs ?? 100
    this.#startDelayMs = startDelayMs
    this.#startFailureRate = startFailureRate
    this.#now = components.now ?? Date.now
    this.#timers = components.timers ?? GLOBAL_TIMERS
    this.#random = components.random ?? Math.random
  }

  async info(signal?: AbortSignal): Promise<RuntimeInfo> {
    signal?.throwIfAborted()
    return { ...this.#info }
  }

  async ensureImage(image: string, signal?: AbortSignal, auth?: RegistryAuth): Promise<void> {
    signal?.throwIfAborted()
    if (this.#hasImage(image)) return
    const registry = registryOfImage(image)
    const login = this.#logins.get(registry)
    if (login !== undefined && (auth?.username !== login.username || auth.password !== login.password))
      throw new RegistryAuthError(
        image,
        registry,
        auth === undefined ? 'no basic auth credentials' : 'unauthorized',
      )
    if (!this.#registry.has(normaliseImage(image))) {
      throw new ImagePullError(image, 'not found in the fake registry')
    }
    this.addImage(image)
  }

  async create(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary> {
    signal?.throwIfAborted()
    return summary(this.#create(spec))
  }

  async start(id: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    let c = this.#get(id)
    if (c.starting !== undefined) c = await this.#idle(id, signal)
    await this.#startContainer(c, id, signal)
  }

  async run(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary> {
    signal?.throwIfAborted()
    const c = this.#create(spec)
    try {
      await this.#startContainer(c, spec.name, signal)
    } catch (err) {
      // As in the Docker driver: a container that cannot start must not linger, its name would
      // conflict with the next attempt.
      if (this.#containers.get(c.id) === c) this.#destroy(c)
      throw err
    }
    return summary(c)
  }

  async stop(id: string, _timeoutSeconds?: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    let c = this.#get(id)
    if (c.starting !== undefined) c = await this.#idle(id, signal)
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
    let c = this.#get(id)
    if (c.starting !== undefined) c = await this.#idle(id, signal)
    this.#destroy(c)
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
      dns: [...(c.spec.dns ?? [])],
      ...(c.spec.cpuMillis === undefined ? {} : { cpuMillis: c.spec.cpuMillis }),
      ...(c.spec.memoryBytes === undefined ? {} : { memoryBytes: c.spec.memoryBytes }),
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

  async listVolumes(labels: Record<string, string>, signal?: AbortSignal): Promise<VolumeSummary[]> {
    signal?.throwIfAborted()
    return [...this.#volumes]
      .filter(([, volume]) => hasLabels(volume.labels, labels))
      .map(([name, volume]) => ({ name, labels: { ...volume.labels }, inUse: this.#mounted(name) }))
  }

  async removeVolume(name: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (!this.#volumes.has(name)) throw new VolumeNotFoundError(name)
    if (this.#mounted(name)) throw new VolumeInUseError(name)
    this.#volumes.delete(name)
  }

  /** Writes a file of the simulated host, which a bind mount of its directory shows. */
  writeHostFile(path: string, content: string): void {
    this.#hostFiles.set(path, content)
  }

  /** A file of the simulated host; undefined when there is none. */
  readHostFile(path: string): string | undefined {
    return this.#hostFiles.get(path)
  }

  /**
   * Ends open event and log streams and clears every timer. A start still waiting out
   * `startDelayMs` rejects with an AbortError.
   */
  async close(): Promise<void> {
    this.#closed.abort()
    for (const c of this.#containers.values()) {
      c.starting?.cancel(
        new DOMException('the runtime was closed before the container started', 'AbortError'),
      )
      this.#cancelTimer(c)
      if (c.healthTimer !== undefined) this.#timers.clearTimeout(c.healthTimer)
      c.healthTimer = undefined
    }
    this.#wakeLogs()
  }

  /**
   * The running containers now, synchronously: what a simulator samples between events, ten
   * times a simulated second over every node, so their labels are shared, not copied.
   */
  runningContainers(): { id: string; name: string; labels: Readonly<Record<string, string>> }[] {
    const running = []
    for (const c of this.#containers.values())
      if (c.state === 'running') running.push({ id: c.id, name: c.spec.name, labels: c.spec.labels })
    return running
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

  #create(spec: ContainerSpec): FakeContainer {
    if (!this.#hasImage(spec.image)) {
      throw new ImagePullError(spec.image, 'No such image (ensureImage pulls it)')
    }
    if (this.#byName(spec.name) !== undefined) throw new NameConflictError(spec.name)
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
      files: new Map(),
      generation: 0,
      failingStreak: 0,
    }
    // As Docker does at the create: a named volume that does not exist yet is made, labelled.
    for (const mount of spec.mounts ?? []) {
      if (mount.type === 'volume' && !this.#volumes.has(mount.source))
        this.#volumes.set(mount.source, { labels: { ...mount.labels }, files: new Map() })
    }
    this.#containers.set(c.id, c)
    this.#emit('create', c)
    return c
  }

  /** A start as the caller asked for it; `who` names the container in errors as the caller did. */
  async #startContainer(c: FakeContainer, who: string, signal?: AbortSignal): Promise<void> {
    // Docker answers 304 and does nothing; a restarting container restarts by its policy.
    if (c.state === 'running' || c.state === 'restarting') return
    if (this.#startDelayMs === 0) this.#launch(c, who)
    else await this.#delayedLaunch(c, who, signal)
  }

  /**
   * Launches `c` once the starts asked before it have ended and `startDelayMs` has passed on the
   * timers. Meanwhile `c.starting` is set: the signal, and close, cancel the start (a start still
   * waiting its turn leaves the queue) and leave `c` as it was.
   */
  #delayedLaunch(c: FakeContainer, who: string, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settle = () => {}
      const settled = new Promise<void>((resolve) => {
        settle = resolve
      })
      let handle: unknown
      let ended = false
      const end = (failed: boolean, err?: unknown) => {
        ended = true
        signal?.removeEventListener('abort', onAbort)
        c.starting = undefined
        const index = this.#startQueue.indexOf(begin)
        if (index >= 0) this.#startQueue.splice(index, 1)
        else this.#nextStart()
        settle()
        if (failed) reject(err)
        else resolve()
      }
      const begin = () => {
        handle = this.#timers.setTimeout(() => {
          // Launched here, before anyone waiting on `settled` runs: a stop that waited for this
          // start must find the container running.
          try {
            this.#launch(c, who)
          } catch (err) {
            end(true, err)
            return
          }
          end(false)
        }, this.#startDelayMs)
      }
      const cancel = (reason: unknown) => {
        if (ended) return
        if (handle !== undefined) this.#timers.clearTimeout(handle)
        end(true, reason)
      }
      const onAbort = () => cancel(signal?.reason)
      c.starting = { settled, cancel }
      signal?.addEventListener('abort', onAbort, { once: true })
      if (this.#startBusy) this.#startQueue.push(begin)
      else {
        this.#startBusy = true
        begin()
      }
    })
  }

  /** The start in progress ended: the oldest waiting one begins its delay. */
  #nextStart(): void {
    const next = this.#closed.signal.aborted ? undefined : this.#startQueue.shift()
    if (next === undefined) this.#startBusy = false
    else next()
  }

  /** The start itself: binds host ports and runs the process, or throws ContainerStartError. */
  #launch(c: FakeContainer, who: string): void {
    if (this.#startFailureRate > 0 && this.#random() < this.#startFailureRate) {
      throw new ContainerStartError(who, 'the fake drew a start failure (startFailureRate)')
    }
    c.ports = this.#bindPorts(c, who)
    // Docker resets the count, and with it an on-failure budget, at every start by hand.
    c.restartCount = 0
    this.#start(c)
  }

  #bindPorts(c: FakeContainer, who: string): PublishedPort[] {
    const taken = this.#takenPorts()
    const ports: PublishedPort[] = []
    for (const port of c.spec.ports ?? []) {
      const protocol = port.protocol ?? 'tcp'
      const hostIp = port.hostIp || '0.0.0.0'
      if (port.hostPort && taken.has(`${port.hostPort}/${protocol}`)) {
        throw new ContainerStartError(
          who,
          `Bind for ${hostIp}:${port.hostPort} failed: port is already allocated`,
        )
      }
      let hostPort = port.hostPort || 0
      while (hostPort === 0 || taken.has(`${hostPort}/${protocol}`)) hostPort = this.#nextHostPort++
      taken.add(`${hostPort}/${protocol}`)
      ports.push({ containerPort: port.containerPort, hostPort, protocol, hostIp })
    }
    return ports
  }

  /**
   * The container once no start is pending on it: as in Docker, calls on one container queue.
   * Callers call it only when a start is pending: an await would let a later call overtake.
   */
  async #idle(id: string, signal?: AbortSignal): Promise<FakeContainer> {
    let c = this.#get(id)
    while (c.starting !== undefined) {
      await abortable(c.starting.settled, signal)
      c = this.#get(id)
    }
    return c
  }

  #destroy(c: FakeContainer): void {
    if (c.state === 'running' || c.state === 'paused') this.#exit(c, KILL_EXIT_CODE, 'removed')
    this.#cancelTimer(c)
    this.#containers.delete(c.id)
    this.#emit('destroy', c)
    this.#wakeLogs()
  }

  /** Starts the process: at a start by hand, and when a restart policy restarts it. */
  #start(c: FakeContainer): void {
    c.generation++
    c.state = 'running'
    c.startedAt = this.#now()
    this.#emit('start', c)
    if (c.spec.health !== undefined) {
      c.health = 'starting'
      c.failingStreak = 0
      this.#scheduleCheck(c)
    }
    // The fake's images have no entrypoint: arguments alone are the command.
    const command = c.spec.command ?? c.spec.args ?? []
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
      const { words, toStderr, toFile } = script[i]!
      const [name, ...args] = words
      if (toFile !== undefined && name !== 'echo' && name !== '/bin/echo') {
        // `: > FILE`: any command but `echo` writes nothing to it, so it is made, or emptied.
        const file = this.#fileOf(c, toFile)
        if (!file.readOnly) file.files.set(file.key, '')
        status = file.readOnly ? 1 : 0
        continue
      }
      switch (name) {
        case undefined:
          continue
        case 'echo':
        case '/bin/echo': {
          const toFile = script[i]!.toFile
          if (toFile === undefined) {
            this.#log(c, args.join(' '), toStderr ? 'stderr' : 'stdout')
            status = 0
            continue
          }
          const file = this.#fileOf(c, toFile)
          if (file.readOnly) {
            this.#log(c, `sh: can't create ${toFile}: Read-only file system`, 'stderr')
            status = 1
          } else {
            file.files.set(file.key, `${args.join(' ')}\n`)
            status = 0
          }
          continue
        }
        case 'cat': {
          const path = args[0] ?? ''
          const file = this.#fileOf(c, path)
          const content = file.files.get(file.key)
          if (content === undefined) {
            this.#log(c, `cat: can't open '${path}': No such file or directory`, 'stderr')
            status = 1
          } else {
            for (const line of content.replace(/\n$/, '').split('\n')) this.#log(c, line, 'stdout')
            status = 0
          }
          continue
        }
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
        case 'test':
        case '[':
          status = this.#testFile(c, args)
          continue
        case 'exit': {
          const code = args[0] === undefined ? status : Number.parseInt(args[0], 10)
          this.#exit(c, Number.isNaN(code) ? 2 : code & 0xff, 'crashed')
          return
        }
        case 'sleep': {
          const seconds = Number(args[0])
          if (!Number.isFinite(seconds) || seconds < 0) return
          c.timer = this.#processTimer(() => {
            c.timer = undefined
            if (c.generation === generation && c.state === 'running') this.#runScript(c, script, i + 1, 0)
          }, seconds * 1000)
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
    this.#cancelHealth(c)
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
    c.timer = this.#processTimer(() => {
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
  }

  /** A timer of the simulated process (a `sleep`, a restart): it must not keep Node running. */
  #processTimer(fn: () => void, ms: number): unknown {
    const handle = this.#timers.setTimeout(fn, ms) as { unref?: () => void } | undefined
    handle?.unref?.()
    return handle
  }

  /** The next health check of the current run, `intervalMs` from now. */
  #scheduleCheck(c: FakeContainer): void {
    const check = c.spec.health
    if (check === undefined) return
    const generation = c.generation
    c.healthTimer = this.#processTimer(() => {
      c.healthTimer = undefined
      if (c.generation !== generation || c.state !== 'running' || !this.#containers.has(c.id)) return
      const passed = this.#runCheck(c, check.command, check.timeoutMs)
      c.failingStreak = passed ? 0 : c.failingStreak + 1
      const health: HealthStatus = passed
        ? 'healthy'
        : c.failingStreak >= check.retries
          ? 'unhealthy'
          : (c.health ?? 'starting')
      if (health !== c.health) {
        c.health = health
        this.#emit('health', c)
      }
      this.#scheduleCheck(c)
    }, check.intervalMs)
  }

  /** `test -f FILE`, `test -s FILE` (or `[ -f FILE ]`) on the container's files: the exit status. */
  #testFile(c: FakeContainer, args: string[]): number {
    const [flag, path] = args.filter((a) => a !== ']')
    if (path === undefined) return 1
    const file = this.#fileOf(c, path)
    const content = file.files.get(file.key)
    if (content === undefined) return 1
    return flag === '-s' && content === '' ? 1 : 0
  }

  /**
   * One health check, run at once: true when it exits 0. The subset the processes run, with the
   * container's files; a `sleep` as long as the timeout times it out; a command the fake does not
   * know passes.
   */
  #runCheck(c: FakeContainer, command: string[], timeoutMs: number): boolean {
    const script =
      (command[0] === 'sh' || command[0] === '/bin/sh') && command[1] === '-c'
        ? parseScript(command[2] ?? '', c.spec.env ?? {})
        : [{ words: command, toStderr: false }]
    let status = 0
    for (const { words } of script) {
      const [name, ...args] = words
      switch (name) {
        case 'false':
          status = 1
          break
        case 'exit':
          return (args[0] === undefined ? status : Number.parseInt(args[0], 10)) === 0
        case 'sleep':
          if (Number(args[0]) * 1000 >= timeoutMs) return false
          status = 0
          break
        case 'test':
        case '[':
          status = this.#testFile(c, args)
          break
        default:
          status = 0
      }
    }
    return status === 0
  }

  #cancelHealth(c: FakeContainer): void {
    if (c.healthTimer !== undefined) this.#timers.clearTimeout(c.healthTimer)
    c.healthTimer = undefined
    c.health = undefined
    c.failingStreak = 0
  }

  #cancelTimer(c: FakeContainer): void {
    if (c.timer !== undefined) this.#timers.clearTimeout(c.timer)
    c.settle?.()
    c.timer = undefined
    c.restarted = undefined
    c.settle = undefined
  }

  #log(c: FakeContainer, line: string, stream: LogLine['stream']): void {
    c.logs.push({ stream, line })
    this.#wakeLogs()
  }

  #mounted(volume: string): boolean {
    for (const c of this.#containers.values())
      if (c.spec.mounts?.some((m) => m.type === 'volume' && m.source === volume)) return true
    return false
  }

  /** Where a path of the container lives: the mount with the longest target holding it, or its own layer. */
  #fileOf(c: FakeContainer, path: string): { files: Files; key: string; readOnly: boolean } {
    let best: Mount | undefined
    for (const mount of c.spec.mounts ?? []) {
      const under = path === mount.target || path.startsWith(`${mount.target}/`)
      if (under && (best === undefined || mount.target.length > best.target.length)) best = mount
    }
    if (best === undefined) return { files: c.files, key: path, readOnly: false }
    const rest = path.slice(best.target.length)
    const readOnly = best.readOnly === true
    if (best.type === 'bind') return { files: this.#hostFiles, key: best.source + rest, readOnly }
    const volume = this.#volumes.get(best.source)
    return { files: volume?.files ?? new Map(), key: rest, readOnly }
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
    const exact = this.#containers.get(id) ?? this.#byName(id)
    if (exact !== undefined) return exact
    const byPrefix = id === '' ? [] : [...this.#containers.values()].filter((c) => c.id.startsWith(id))
    if (byPrefix.length !== 1) throw new ContainerNotFoundError(id)
    return byPrefix[0]!
  }

  #byName(name: string): FakeContainer | undefined {
    for (const c of this.#containers.values()) if (c.spec.name === name) return c
    return undefined
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

/** `promise`, or the signal's reason once it aborts first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
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
    ...(c.health !== undefined && c.state === 'running' ? { health: c.health } : {}),
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
    const redirect = words.indexOf('>')
    const toFile = redirect === -1 ? undefined : words[redirect + 1]
    const kept = words.filter(
      (w, at) => w !== '>&2' && w !== '1>&2' && (redirect === -1 || at < redirect || at > redirect + 1),
    )
    if (kept.length > 0)
      statements.push({ words: kept, toStderr, ...(toFile === undefined ? {} : { toFile }) })
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
