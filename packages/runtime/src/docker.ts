import { Agent } from 'node:http'
import { Readable } from 'node:stream'
import { inspect } from 'node:util'
import Docker from 'dockerode'
import { DEFERRED_CPU_LABEL, deferred, deferredCpuOf, nanoCpusOf } from './cpu-limit.js'
import { LogDemuxer } from './demux.js'
import {
  ContainerNotFoundError,
  ContainerStartError,
  EngineError,
  ImagePullError,
  NameConflictError,
  RegistryAuthError,
  RuntimeUnavailableError,
  VolumeInUseError,
  VolumeNotFoundError,
} from './errors.js'
import { refusedForCredentials, registryOfImage } from './registry.js'
import type {
  ContainerDetails,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
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

export interface DockerRuntimeInit {
  /**
   * The engine's Unix socket. Default: the path in `DOCKER_HOST` when it is `unix://...`, the
   * engine `DOCKER_HOST` names when it is `tcp://...`, else `/var/run/docker.sock`.
   */
  socketPath?: string
}

export interface DockerRuntimeComponents {
  /** A dockerode client to use instead of one made from `init`; `close()` leaves it open. */
  docker?: Docker
}

const DEFAULT_SOCKET = '/var/run/docker.sock'

/** Tries of a started container's CPU limit update, and the wait between two (see #update). */
const UPDATE_ATTEMPTS = 5
const UPDATE_RETRY_MS = 50

/**
 * A keep-alive agent that prints as one word. docker-modem formats every request's options, the
 * agent and its pooled sockets included, with `util.inspect` (hidden fields, unlimited depth) for
 * a debug line, even with debugging off: 74 KB of text and 2.1-2.5 ms of CPU per call, five times
 * the call itself (a list cost 0.4 ms of CPU with this). A deploy's daemons spent a quarter of
 * their CPU there.
 */
function quietAgent(): Agent {
  const agent = new Agent({ keepAlive: true })
  Object.defineProperty(agent, inspect.custom, { value: () => 'Agent { keepAlive: true }' })
  return agent
}

/** What dockerode and docker-modem attach to their errors. */
type DockerError = Error & { statusCode?: number; code?: string; json?: { message?: string } | null }

const EVENT_KINDS: ReadonlySet<string> = new Set<RuntimeEventKind>([
  'create',
  'start',
  'die',
  'stop',
  'destroy',
  'oom',
  'health',
])
/** Keys Docker puts into an event's attributes beside the container's labels. */
const NOT_LABELS: ReadonlySet<string> = new Set(['name', 'image', 'exitCode', 'signal', 'execDuration'])
const ZERO_TIME = '0001-01-01T00:00:00Z'

/**
 * Gary's Docker driver: the engine's API over its Unix socket, through dockerode.
 *
 * Containers run with an init process (`HostConfig.Init`): a workload as PID 1 ignores SIGTERM,
 * so every stop would wait out its timeout.
 */
export class DockerRuntime implements ContainerRuntime {
  /** The dockerode client, for what the interface does not cover (tests, the test image). */
  readonly docker: Docker
  /** Where the engine is expected, for messages: a socket path or a `DOCKER_HOST` address. */
  readonly where: string
  readonly #agent: Agent | undefined
  // Aborted by close(): ends every open event and log stream.
  readonly #closed = new AbortController()
  /**
   * The CPU limit to apply at the start of each container this runtime created and has not started
   * yet, 0 for none (cpu-limit.ts); a container missing here is looked up at its start.
   */
  readonly #cpuAfterStart = new Map<string, number>()

  constructor(init: DockerRuntimeInit = {}, components: DockerRuntimeComponents = {}) {
    if (components.docker !== undefined) {
      this.docker = components.docker
      const modem = components.docker.modem as { socketPath?: unknown; host?: string }
      this.where = typeof modem.socketPath === 'string' ? modem.socketPath : (modem.host ?? 'dockerode')
      return
    }
    const dockerHost = process.env.DOCKER_HOST
    const socketPath =
      init.socketPath ??
      (dockerHost?.startsWith('unix://') ? dockerHost.slice('unix://'.length) : undefined) ??
      (dockerHost ? undefined : DEFAULT_SOCKET)
    this.#agent = quietAgent()
    if (socketPath !== undefined) {
      this.docker = new Docker({ socketPath, agent: this.#agent } as Docker.DockerOptions)
      this.where = socketPath
    } else {
      // dockerode reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself.
      this.docker = new Docker({ agent: this.#agent } as Docker.DockerOptions)
      this.where = dockerHost ?? DEFAULT_SOCKET
    }
  }

  async info(signal?: AbortSignal): Promise<RuntimeInfo> {
    // dockerode takes options here; its types do not say so.
    const info = await this.#call(signal, (abortSignal) =>
      (this.docker.info as (opts: object) => Promise<Record<string, unknown>>).call(this.docker, {
        abortSignal,
      }),
    )
    const gateway = await this.#bridgeGateway(signal)
    return {
      driver: 'docker',
      engineVersion: String(info.ServerVersion),
      cpuMillis: Number(info.NCPU) * 1000,
      memoryBytes: Number(info.MemTotal),
      ...(gateway === undefined ? {} : { gateway }),
    }
  }

  /** The default bridge network's gateway (`docker0`'s address), if the engine has that network. */
  async #bridgeGateway(signal: AbortSignal | undefined): Promise<string | undefined> {
    const network = await this.#call(
      signal,
      // dockerode takes options here; its types do not say so.
      async (abortSignal) =>
        (await (this.docker.getNetwork('bridge').inspect as (opts: object) => Promise<unknown>).call(
          this.docker.getNetwork('bridge'),
          { abortSignal },
        )) as { IPAM?: { Config?: { Gateway?: string; Subnet?: string }[] } },
      {},
      { status: 404, value: undefined },
    )
    const configs = network?.IPAM?.Config ?? []
    const given = configs.find((config) => (config.Gateway ?? '') !== '')?.Gateway
    // Without --bip the engine names no gateway: docker0 takes the subnet's first address.
    return given ?? configs.map((config) => firstHost(config.Subnet)).find((host) => host !== undefined)
  }

  async ensureImage(image: string, signal?: AbortSignal, auth?: RegistryAuth): Promise<void> {
    if (await this.hasImage(image, signal)) return
    try {
      const stream = await this.#call(
        signal,
        (abortSignal) =>
          this.docker.pull(image, {
            abortSignal,
            ...(auth === undefined ? {} : { authconfig: { ...auth } }),
          }) as Promise<NodeJS.ReadableStream>,
      )
      await this.#followProgress(stream)
    } catch (err) {
      if (err instanceof RuntimeUnavailableError || signal?.aborted) throw err
      const why = reason(err)
      if (refusedForCredentials(why))
        throw new RegistryAuthError(image, registryOfImage(image), why, { cause: err })
      throw new ImagePullError(image, why, { cause: err })
    }
    // A pull that reported no error yet left no image (an odd registry) is still a failure.
    if (!(await this.hasImage(image, signal))) throw new ImagePullError(image, 'the pull left no image')
  }

  async create(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary> {
    const { id } = await this.#create(spec, signal)
    // What the engine was just told (its image's labels aside): inspecting the new container too
    // cost the engine a second call for every container a deploy made.
    return {
      id,
      name: spec.name,
      image: spec.image,
      labels: { ...spec.labels },
      state: 'created',
      createdAt: Date.now(),
    }
  }

  async start(id: string, signal?: AbortSignal): Promise<void> {
    await this.#start(this.docker.getContainer(id), id, signal)
  }

  async run(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary> {
    const container = await this.#create(spec, signal)
    try {
      await this.#start(container, spec.name, signal)
    } catch (err) {
      // A container that cannot start (a port taken...) must not linger: its name would conflict
      // with the next attempt. No signal: this must happen even when the start was aborted.
      this.#cpuAfterStart.delete(container.id)
      await container.remove({ force: true, v: true }).catch(() => {})
      throw err
    }
    return this.#summary(container.id, signal)
  }

  async stop(id: string, timeoutSeconds = 10, signal?: AbortSignal): Promise<void> {
    await this.#call(
      signal,
      (abortSignal) => this.docker.getContainer(id).stop({ t: timeoutSeconds, abortSignal }),
      { 404: () => new ContainerNotFoundError(id) },
      // 304: it was not running; stopping a stopped container is fine.
      { status: 304, value: undefined },
    )
  }

  async remove(id: string, signal?: AbortSignal): Promise<void> {
    this.#cpuAfterStart.delete(id)
    await this.#call(
      signal,
      (abortSignal) => this.docker.getContainer(id).remove({ force: true, v: true, abortSignal }),
      { 404: () => new ContainerNotFoundError(id) },
    )
  }

  async list(labels: Record<string, string>, signal?: AbortSignal): Promise<ContainerSummary[]> {
    const containers = await this.#call(signal, (abortSignal) =>
      this.docker.listContainers({ all: true, filters: { label: labelFilters(labels) }, abortSignal }),
    )
    return containers.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      image: c.Image,
      labels: c.Labels ?? {},
      state: c.State as ContainerState,
      createdAt: c.Created * 1000,
      ...healthOf(c.State, c.Status),
    }))
  }

  async inspect(id: string, signal?: AbortSignal): Promise<ContainerDetails> {
    const c = await this.#call(
      signal,
      (abortSignal) => this.docker.getContainer(id).inspect({ abortSignal }),
      {
        404: () => new ContainerNotFoundError(id),
      },
    )
    const ports: PublishedPort[] = []
    for (const [key, hostBindings] of Object.entries(c.NetworkSettings.Ports ?? {})) {
      const [containerPort, protocol] = key.split('/')
      for (const binding of hostBindings ?? []) {
        ports.push({
          containerPort: Number(containerPort),
          hostPort: Number(binding.HostPort),
          protocol: protocol === 'udp' ? 'udp' : 'tcp',
          hostIp: binding.HostIp,
        })
      }
    }
    const networks = c.NetworkSettings.Networks ?? {}
    const ipAddress =
      networks[c.HostConfig.NetworkMode ?? '']?.IPAddress ||
      networks.bridge?.IPAddress ||
      Object.values(networks).find((n) => n.IPAddress !== '')?.IPAddress ||
      undefined
    const state = c.State.Status as ContainerState
    const finished = c.State.FinishedAt !== ZERO_TIME && c.State.FinishedAt !== ''
    return {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      image: c.Config.Image,
      labels: c.Config.Labels ?? {},
      state,
      createdAt: Date.parse(c.Created),
      ...(c.State.StartedAt === ZERO_TIME ? {} : { startedAt: Date.parse(c.State.StartedAt) }),
      ...(finished ? { finishedAt: Date.parse(c.State.FinishedAt) } : {}),
      // Docker resets ExitCode to 0 when it starts the process again: only an exit that is
      // still the current state has a meaningful code.
      ...(finished && state !== 'running' && state !== 'paused' ? { exitCode: c.State.ExitCode } : {}),
      restartCount: c.RestartCount,
      ports,
      ...healthOf(
        state,
        c.State.Health?.Status === 'starting' ? '(health: starting)' : `(${c.State.Health?.Status})`,
      ),
      ...(ipAddress === undefined ? {} : { ipAddress }),
      dns: c.HostConfig.Dns ?? [],
      // 0 is Docker's "no limit".
      ...(c.HostConfig.NanoCpus ? { cpuMillis: c.HostConfig.NanoCpus / 1_000_000 } : {}),
      ...(c.HostConfig.Memory ? { memoryBytes: c.HostConfig.Memory } : {}),
    }
  }

  events(labels: Record<string, string>, signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    // Taken now, not when iteration begins: events between this call and the engine taking the
    // subscription are replayed rather than lost.
    const since = Math.floor(Date.now()) / 1000
    return this.#events(labels, signal, since)
  }

  async *#events(
    labels: Record<string, string>,
    signal: AbortSignal,
    since: number,
  ): AsyncGenerator<RuntimeEvent> {
    const done = AbortSignal.any([signal, this.#closed.signal])
    if (done.aborted) return
    let stream: NodeJS.ReadableStream
    try {
      stream = await this.#call(done, (abortSignal) =>
        this.docker.getEvents({
          since,
          filters: { type: ['container'], label: labelFilters(labels) },
          abortSignal,
        }),
      )
    } catch (err) {
      if (done.aborted) return
      throw err
    }
    let buffered = ''
    for await (const chunk of abortable(stream, done)) {
      buffered += chunk.toString('utf8')
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const event = toRuntimeEvent(line)
        if (event !== undefined) yield event
      }
    }
    if (!done.aborted) {
      throw new RuntimeUnavailableError(
        this.where,
        `the Docker engine at ${this.where} closed the event stream`,
      )
    }
  }

  async *logs(id: string, options: LogOptions = {}): AsyncIterable<LogLine> {
    const done = AbortSignal.any([options.signal ?? new AbortController().signal, this.#closed.signal])
    const container = this.docker.getContainer(id)
    const query = {
      stdout: true,
      stderr: true,
      ...(options.tail === undefined ? {} : { tail: options.tail }),
    }
    const notFound = { 404: () => new ContainerNotFoundError(id) }
    const demuxer = new LogDemuxer()
    if (options.follow !== true) {
      // Without `follow` dockerode buffers the whole (multiplexed) answer.
      const body = await this.#call(
        options.signal,
        (abortSignal) => container.logs({ ...query, follow: false, abortSignal }),
        notFound,
      )
      yield* demuxer.push(Buffer.isBuffer(body) ? body : Buffer.from(String(body)))
      yield* demuxer.end()
      return
    }
    let stream: NodeJS.ReadableStream
    try {
      stream = await this.#call(
        done,
        (abortSignal) => container.logs({ ...query, follow: true, abortSignal }),
        notFound,
      )
    } catch (err) {
      if (done.aborted && !options.signal?.aborted) return
      throw err
    }
    // The engine ends the stream when the container's process exits.
    for await (const chunk of abortable(stream, done)) yield* demuxer.push(chunk)
    yield* demuxer.end()
  }

  async listVolumes(labels: Record<string, string>, signal?: AbortSignal): Promise<VolumeSummary[]> {
    const listed = await this.#call(signal, (abortSignal) =>
      this.docker.listVolumes({ filters: { label: labelFilters(labels) }, abortSignal }),
    )
    const volumes = listed.Volumes ?? []
    if (volumes.length === 0) return []
    // One listing of every container, rather than one per volume: any container keeps a volume.
    const containers = await this.#call(signal, (abortSignal) =>
      this.docker.listContainers({ all: true, abortSignal }),
    )
    const mounted = new Set<string>()
    for (const c of containers) for (const m of c.Mounts ?? []) if (m.Name) mounted.add(m.Name)
    return volumes.map((v) => ({ name: v.Name, labels: v.Labels ?? {}, inUse: mounted.has(v.Name) }))
  }

  async removeVolume(name: string, signal?: AbortSignal): Promise<void> {
    await this.#call(signal, (abortSignal) => this.docker.getVolume(name).remove({ abortSignal }), {
      404: () => new VolumeNotFoundError(name),
      409: () => new VolumeInUseError(name),
    })
  }

  /** Ends open event and log streams and closes pooled connections. */
  async close(): Promise<void> {
    this.#closed.abort()
    this.#agent?.destroy()
  }

  /**
   * Imports a tarball of a root filesystem as image `repoTag` (`docker import`): how tests get an
   * image with no registry.
   */
  async importImage(tarball: Readable | Buffer, repoTag: string, signal?: AbortSignal): Promise<void> {
    const colon = repoTag.lastIndexOf(':')
    const [repo, tag] =
      colon > repoTag.lastIndexOf('/')
        ? [repoTag.slice(0, colon), repoTag.slice(colon + 1)]
        : [repoTag, 'latest']
    const body = Buffer.isBuffer(tarball) ? Readable.from([tarball]) : tarball
    const stream = await this.#call(signal, (abortSignal) =>
      this.docker.importImage(body, { repo, tag, abortSignal }),
    )
    await this.#followProgress(stream)
  }

  /** Whether the image is present locally; never pulls. */
  async hasImage(image: string, signal?: AbortSignal): Promise<boolean> {
    return this.#call(
      signal,
      async (abortSignal) => {
        await this.docker.getImage(image).inspect({ abortSignal } as Docker.ImageInspectOptions)
        return true
      },
      {},
      // The engine says "no such container - No such image" here: trust the status, not the text.
      { status: 404, value: false },
    )
  }

  async #create(spec: ContainerSpec, signal: AbortSignal | undefined): Promise<Docker.Container> {
    const ports = spec.ports ?? []
    const portKey = (p: { containerPort: number; protocol?: string }) =>
      `${p.containerPort}/${p.protocol ?? 'tcp'}`
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {}
    for (const p of ports) {
      const key = portKey(p)
      bindings[key] = [
        ...(bindings[key] ?? []),
        { HostIp: p.hostIp ?? '', HostPort: p.hostPort ? String(p.hostPort) : '' },
      ]
    }
    const nanoCpus = spec.cpuMillis === undefined ? undefined : nanoCpusOf(spec.cpuMillis)
    const later = nanoCpus !== undefined && deferred(nanoCpus, spec.unthrottledStart === true)
    const options: Docker.ContainerCreateOptions = {
      name: spec.name,
      Image: spec.image,
      // "Replaces the image's entrypoint+cmd": an empty Entrypoint drops the image's.
      ...(spec.command !== undefined
        ? { Entrypoint: [], Cmd: spec.command }
        : spec.args !== undefined
          ? { Cmd: spec.args }
          : {}),
      Env: Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
      Labels: { ...spec.labels, ...(later ? { [DEFERRED_CPU_LABEL]: String(nanoCpus) } : {}) },
      ExposedPorts: Object.fromEntries(ports.map((p) => [portKey(p), {}])),
      ...(spec.health === undefined
        ? {}
        : {
            Healthcheck: {
              Test: ['CMD', ...spec.health.command],
              Interval: spec.health.intervalMs * 1e6,
              Timeout: spec.health.timeoutMs * 1e6,
              Retries: spec.health.retries,
            },
          }),
      HostConfig: {
        Init: true,
        RestartPolicy: {
          Name: spec.restart?.policy ?? 'no',
          ...(spec.restart?.policy === 'on-failure'
            ? { MaximumRetryCount: spec.restart.maxRetries ?? 0 }
            : {}),
        },
        ...(nanoCpus === undefined || later ? {} : { NanoCpus: nanoCpus }),
        ...(spec.memoryBytes === undefined ? {} : { Memory: spec.memoryBytes }),
        PortBindings: bindings,
        ...(spec.dns === undefined ? {} : { Dns: spec.dns }),
        // Binds (`SOURCE:TARGET:ro`; Gary makes both paths, without a ':'), so that Mounts stay the volumes'.
        ...(spec.files === undefined || spec.files.length === 0
          ? {}
          : { Binds: spec.files.map((file) => `${file.source}:${file.target}:ro`) }),
        ...(spec.mounts === undefined || spec.mounts.length === 0
          ? {}
          : { Mounts: spec.mounts.map(engineMount) }),
      },
    }
    const container = await this.#call(
      signal,
      (abortSignal) => this.docker.createContainer({ ...options, abortSignal }),
      {
        409: () => new NameConflictError(spec.name),
        404: (err) => new ImagePullError(spec.image, `${reason(err)} (ensureImage pulls it)`),
      },
    )
    this.#cpuAfterStart.set(container.id, later ? nanoCpus : 0)
    return container
  }

  /** `who` names the container in errors as the caller did: its id, or its name for `run`. */
  async #start(container: Docker.Container, who: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      // 304: running or restarting already; starting it again is fine.
      await this.#call(
        signal,
        (abortSignal) => container.start({ abortSignal }),
        {},
        { status: 304, value: undefined },
      )
    } catch (err) {
      if (err instanceof RuntimeUnavailableError) throw err
      if (signal?.aborted) {
        // The engine may start it all the same: it must not run without its limit then.
        await this.#limitCpu(container, who).catch(() => {})
        throw err
      }
      // 404 also says that a network the container joins is gone: only a container that is gone
      // is not found.
      if (err instanceof EngineError && err.statusCode === 404) {
        const gone = await this.inspect(container.id, signal).then(
          () => false,
          (inspectErr: unknown) => {
            if (inspectErr instanceof ContainerNotFoundError) return true
            throw inspectErr
          },
        )
        if (gone) throw new ContainerNotFoundError(who, { cause: err })
      }
      // A port taken, a paused container (409)...: Docker leaves the container as it was.
      throw new ContainerStartError(who, reason(err), { cause: err })
    }
    await this.#limitCpu(container, who)
  }

  /**
   * Gives a started container the CPU limit its creation left out (cpu-limit.ts). Without a signal:
   * an aborted start must not leave the process unlimited. A container whose limit cannot be
   * applied is killed, and the start fails.
   */
  async #limitCpu(container: Docker.Container, who: string): Promise<void> {
    try {
      let nanoCpus = this.#cpuAfterStart.get(container.id)
      this.#cpuAfterStart.delete(container.id)
      if (nanoCpus === 0) return
      if (nanoCpus === undefined) {
        // Created by an earlier process, or started before: the label says what it should have.
        const c = await this.#call(undefined, () => container.inspect())
        nanoCpus = deferredCpuOf(c.Config.Labels ?? undefined)
        if (nanoCpus === undefined || c.HostConfig.NanoCpus === nanoCpus) return
      }
      await this.#update(container, nanoCpus)
    } catch (err) {
      if (err instanceof RuntimeUnavailableError) throw err
      await this.#call(undefined, () => container.kill()).catch(() => {})
      throw new ContainerStartError(who, `its CPU limit could not be applied: ${reason(err)}`, { cause: err })
    }
  }

  /**
   * A process that exits at once races the update: the engine refuses it ("cannot update a stopped
   * container") until it has seen the exit, and takes it once it has (it then applies to the
   * container's configuration, for its next start). So a refusal is tried again, a few times.
   */
  async #update(container: Docker.Container, nanoCpus: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#call(undefined, () => container.update({ NanoCpus: nanoCpus }))
      } catch (err) {
        if (err instanceof RuntimeUnavailableError || attempt === UPDATE_ATTEMPTS) throw err
        await new Promise((resolve) => setTimeout(resolve, UPDATE_RETRY_MS))
      }
    }
  }

  async #summary(id: string, signal: AbortSignal | undefined): Promise<ContainerSummary> {
    const { name, image, labels, state, createdAt } = await this.inspect(id, signal)
    return { id, name, image, labels, state, createdAt }
  }

  /** Reads a pull or import progress stream to its end; rejects on an error the engine reports in it. */
  async #followProgress(stream: NodeJS.ReadableStream): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(stream, (err: Error | null, output: { error?: string }[]) => {
        const failed = err?.message ?? output.find((item) => item.error !== undefined)?.error
        if (failed === undefined) resolve()
        else reject(err ?? new EngineError(failed))
      })
    })
  }

  /**
   * Runs one engine call: honours the signal, maps "no engine" to RuntimeUnavailableError, the
   * statuses in `errors` to Gary's errors and the status in `ok` to a value.
   */
  async #call<T>(
    signal: AbortSignal | undefined,
    call: (abortSignal: AbortSignal | undefined) => Promise<T>,
    errors: Record<number, (err: DockerError) => Error> = {},
    ok?: { status: number; value: T },
  ): Promise<T> {
    signal?.throwIfAborted()
    try {
      return await call(signal)
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      const error = err as DockerError
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        throw new RuntimeUnavailableError(this.where, undefined, { cause: err })
      }
      if (error.code === 'EACCES') {
        throw new RuntimeUnavailableError(
          this.where,
          `no permission to use the Docker engine at ${this.where}: run as root or as a member of the docker group`,
          { cause: err },
        )
      }
      if (ok !== undefined && error.statusCode === ok.status) return ok.value
      const mapped = error.statusCode === undefined ? undefined : errors[error.statusCode]
      if (mapped !== undefined) throw mapped(error)
      if (error.statusCode !== undefined)
        throw new EngineError(reason(error), error.statusCode, { cause: err })
      throw err
    }
  }
}

/** Iterates a stream's chunks until it ends or the signal aborts; always destroys the stream. */
async function* abortable(stream: NodeJS.ReadableStream, signal: AbortSignal): AsyncGenerator<Buffer> {
  const readable = stream as Readable
  const onAbort = () => readable.destroy()
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const chunk of readable) yield chunk as Buffer
  } catch (err) {
    if (!signal.aborted) throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
    readable.destroy()
  }
}

function engineMount(mount: Mount): Docker.MountSettings {
  return mount.type === 'volume'
    ? {
        Type: 'volume',
        Source: mount.source,
        Target: mount.target,
        ReadOnly: mount.readOnly === true,
        // Read when the engine creates the volume, at the container's create: a volume that
        // exists keeps its labels.
        VolumeOptions: {
          NoCopy: false,
          Labels: { ...mount.labels },
          DriverConfig: { Name: 'local', Options: {} },
        },
      }
    : { Type: 'bind', Source: mount.source, Target: mount.target, ReadOnly: mount.readOnly === true }
}

function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`)
}

/** The engine's own sentence, without docker-modem's "(HTTP code 500) server error -" prefix. */
function reason(err: unknown): string {
  const error = err as DockerError
  return error.json?.message ?? error.message ?? String(err)
}

/** The health verdict in a list entry's status text, such as `Up 5 seconds (healthy)`. */
function healthOf(state: string, status: string | undefined): { health?: HealthStatus } {
  if (state !== 'running') return {}
  const match = /\((healthy|unhealthy|health: starting)\)/.exec(status ?? '')
  if (match === null) return {}
  return { health: match[1] === 'health: starting' ? 'starting' : (match[1] as HealthStatus) }
}

/** Maps one line of the engine's event stream; undefined for events Gary does not use. */
export function toRuntimeEvent(line: string): RuntimeEvent | undefined {
  if (line.trim() === '') return undefined
  let raw: {
    Type?: string
    Action?: string
    Actor?: { ID?: string; Attributes?: Record<string, string> }
    time?: number
    timeNano?: number
  }
  try {
    raw = JSON.parse(line)
  } catch {
    return undefined
  }
  if ((raw.Type !== undefined && raw.Type !== 'container') || raw.Actor?.ID === undefined) return undefined
  // Health changes arrive as `health_status: healthy`.
  if (raw.Action?.startsWith('health_status') === true) raw.Action = 'health'
  if (raw.Action === undefined || !EVENT_KINDS.has(raw.Action)) return undefined
  const attributes = raw.Actor.Attributes ?? {}
  const labels = Object.fromEntries(Object.entries(attributes).filter(([key]) => !NOT_LABELS.has(key)))
  const exitCode = attributes.exitCode === undefined ? undefined : Number(attributes.exitCode)
  return {
    kind: raw.Action as RuntimeEventKind,
    containerId: raw.Actor.ID,
    labels,
    at: raw.timeNano !== undefined ? Math.floor(raw.timeNano / 1e6) : (raw.time ?? 0) * 1000,
    ...(exitCode === undefined || Number.isNaN(exitCode) ? {} : { exitCode }),
  }
}

/** The first host address of an IPv4 subnet (`172.17.0.0/16` -> `172.17.0.1`). */
function firstHost(subnet: string | undefined): string | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet ?? '')
  if (match === null) return undefined
  const bits = Number(match[5])
  if (bits > 30) return undefined
  const address = match.slice(1, 5).reduce((sum, part) => sum * 256 + Number(part), 0)
  const first = address - (address % 2 ** (32 - bits)) + 1
  return [24, 16, 8, 0].map((shift) => Math.floor(first / 2 ** shift) % 256).join('.')
}
