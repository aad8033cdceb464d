/** What the engine under a node reports about the machine. */
export interface RuntimeInfo {
  /** Driver name, e.g. `docker` or `fake`. */
  driver: string
  /** Engine version as the engine reports it, e.g. `20.10.24`. */
  engineVersion: string
  /** Schedulable CPU in millicores (1000 = one core). */
  cpuMillis: number
  /** Schedulable memory in bytes. */
  memoryBytes: number
  /**
   * The host's address on the network containers join by default (Docker's bridge gateway):
   * where a container reaches its own host. Absent when the engine has no such network.
   */
  gateway?: string
}

export type RestartPolicy = 'no' | 'always' | 'on-failure' | 'unless-stopped'

export interface PortMapping {
  containerPort: number
  /** Host port; omitted or 0 lets the engine pick one. */
  hostPort?: number
  protocol?: 'tcp' | 'udp'
  /** Host address to bind; default all addresses. */
  hostIp?: string
}

export interface ContainerSpec {
  /** Container name; unique per engine. Gary names containers deterministically. */
  name: string
  image: string
  /** Replaces the image's entrypoint+cmd when given. */
  command?: string[]
  /** Replaces the image's arguments (CMD) and keeps its entrypoint; ignored when `command` is given. */
  args?: string[]
  env?: Record<string, string>
  /** Labels select what a node owns: every Gary container carries its node id. */
  labels: Record<string, string>
  restart?: { policy: RestartPolicy; maxRetries?: number }
  /** CPU limit in millicores. */
  cpuMillis?: number
  /**
   * Start before the CPU limit, and apply it right after (a limit under one CPU only; cpu-limit.ts):
   * for a start someone is waiting on, at the cost of one more engine call.
   */
  unthrottledStart?: boolean
  /** Memory limit in bytes. */
  memoryBytes?: number
  ports?: PortMapping[]
  /** A check the engine runs inside the container; its verdict is the summary's `health`. */
  health?: HealthCheck
  /** Name servers the container resolves with (its resolv.conf); default the engine's. */
  dns?: string[]
  /**
   * Host files bound read-only into the container (`target`: an absolute path in it): how a
   * node hands secrets over, from its tmpfs, without the engine ever holding the value.
   */
  files?: { source: string; target: string }[]
  /** What is mounted into it. */
  mounts?: Mount[]
}

/** Credentials for a registry, as the engine takes them for a pull. */
export interface RegistryAuth {
  username: string
  password: string
  /** The registry, as image references name it (`ghcr.io`, `127.0.0.1:5000`). */
  serveraddress: string
}

/**
 * A mount. `volume`: a named volume of the engine, created with `labels` when the container is
 * created if it does not exist yet, and kept when the container is removed. `bind`: a path of the
 * host, which must exist (the engine creates nothing on the host).
 */
export type Mount =
  | { type: 'volume'; source: string; target: string; readOnly?: boolean; labels?: Record<string, string> }
  | { type: 'bind'; source: string; target: string; readOnly?: boolean }

/** A named volume of the engine. */
export interface VolumeSummary {
  name: string
  labels: Record<string, string>
  /** A container (running or not) mounts it: the engine will not remove it. */
  inUse: boolean
}

export interface HealthCheck {
  /** Run in the container; exit 0 means healthy. */
  command: string[]
  intervalMs: number
  timeoutMs: number
  /** Failures in a row that make the container unhealthy. */
  retries: number
}

/** The engine's verdict on a running container with a health check. */
export type HealthStatus = 'starting' | 'healthy' | 'unhealthy'

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'removing'

export interface PublishedPort {
  containerPort: number
  hostPort: number
  protocol: 'tcp' | 'udp'
  hostIp: string
}

export interface ContainerSummary {
  id: string
  name: string
  image: string
  labels: Record<string, string>
  state: ContainerState
  /** Creation time, ms since the epoch. */
  createdAt: number
  /** Present for a running container that has a health check. */
  health?: HealthStatus
}

export interface ContainerDetails extends ContainerSummary {
  /**
   * Exit code of the last run, while the container is not running (exited, dead, restarting);
   * undefined when it never exited or runs again (Docker resets the code at each start).
   */
  exitCode?: number
  /** ms since the epoch, undefined when never started. */
  startedAt?: number
  finishedAt?: number
  restartCount: number
  ports: PublishedPort[]
  /** Address on the engine's default network, when it has one. */
  ipAddress?: string
  /** The name servers it was given (`ContainerSpec.dns`); empty: the engine's. */
  dns: string[]
  /** The CPU limit the engine enforces, millicores; undefined when the container has none. */
  cpuMillis?: number
  /** The memory limit the engine enforces, bytes; undefined when the container has none. */
  memoryBytes?: number
}

/** `health`: the container's health status changed (see `ContainerSummary.health`). */
export type RuntimeEventKind = 'create' | 'start' | 'die' | 'stop' | 'destroy' | 'oom' | 'health'

export interface RuntimeEvent {
  kind: RuntimeEventKind
  containerId: string
  labels: Record<string, string>
  /** Present on `die`. */
  exitCode?: number
  /** ms since the epoch. */
  at: number
}

export interface LogOptions {
  /** Keep the stream open and deliver new lines as they come. */
  follow?: boolean
  /** Only the last N lines. */
  tail?: number
  signal?: AbortSignal
}

export interface LogLine {
  stream: 'stdout' | 'stderr'
  line: string
}

/**
 * The side effects Gary needs from a container engine on one machine. The reconcile loop uses
 * nothing else, so a driver that passes the compliance suite can run Gary.
 */
export interface ContainerRuntime {
  info(signal?: AbortSignal): Promise<RuntimeInfo>
  /**
   * Makes sure the image is present locally, pulling it when missing, with `auth` when given.
   * Throws ImagePullError; RegistryAuthError (one) when the registry refused for credentials.
   */
  ensureImage(image: string, signal?: AbortSignal, auth?: RegistryAuth): Promise<void>
  /**
   * Creates a container without starting it: state `created`, no process, no host port bound.
   * Never pulls: throws ImagePullError when the image is not present (call `ensureImage` first),
   * NameConflictError when the name is taken. On Docker the start, not the create, is the slow
   * step.
   */
  create(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary>
  /**
   * Starts a `created` or `exited` container. It keeps its id and its logs; host ports are bound
   * now; `restartCount` goes back to 0, and with it an `on-failure` budget, as Docker does at a
   * start by hand. Starting a running or restarting container is fine and does nothing. Throws
   * ContainerNotFoundError for an unknown id, ContainerStartError when the process cannot start
   * (a host port taken...); the container is then left as it was, not removed. A command that
   * does not exist is no start error: Docker's init process starts, then exits with code 127.
   */
  start(id: string, signal?: AbortSignal): Promise<void>
  /**
   * `create`, then `start`. A container that cannot start is removed again, so that its name is
   * free for the next attempt. Throws what those two throw.
   */
  run(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary>
  /** Stops a container, waiting up to `timeoutSeconds` before killing it. Stopping a stopped one is fine. */
  stop(id: string, timeoutSeconds?: number, signal?: AbortSignal): Promise<void>
  /** Removes a container, killing it first when running. Removing a missing one throws ContainerNotFoundError. */
  remove(id: string, signal?: AbortSignal): Promise<void>
  /** Containers (running or not) whose labels include every given label. */
  list(labels: Record<string, string>, signal?: AbortSignal): Promise<ContainerSummary[]>
  /** Throws ContainerNotFoundError for an unknown id or name. */
  inspect(id: string, signal?: AbortSignal): Promise<ContainerDetails>
  /** Container lifecycle events for containers carrying every given label, until the signal aborts. */
  events(labels: Record<string, string>, signal: AbortSignal): AsyncIterable<RuntimeEvent>
  /** Log lines of a container, oldest first. */
  logs(id: string, options?: LogOptions): AsyncIterable<LogLine>
  /** Named volumes whose labels include every given label. */
  listVolumes(labels: Record<string, string>, signal?: AbortSignal): Promise<VolumeSummary[]>
  /**
   * Removes a named volume and its data. Throws VolumeInUseError while a container (running or
   * not) mounts it, VolumeNotFoundError when there is none.
   */
  removeVolume(name: string, signal?: AbortSignal): Promise<void>
  /** Releases connections and timers. */
  close(): Promise<void>
}
