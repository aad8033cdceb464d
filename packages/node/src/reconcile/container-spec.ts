import { formatEndpoint, type SlotPromise, type Workload } from '@gary/protocol'
import type { ContainerSpec, HealthCheck, Mount, PublishedPort } from '@gary/runtime'
import { containerName, LABELS, slotLabels, volumeName } from './container-labels.js'

/**
 * The container that keeps one slot. Gary restarts containers itself (with backoff and a retry
 * budget that ends in a refusal), so the engine's own restart policy stays off.
 */
export function containerSpecFor(
  node: string,
  workload: Workload,
  promise: SlotPromise,
  options: {
    dns?: string[]
    /** Each bind mount's source as the node resolved it (`HostPathGuard`); absent: as written. */
    hostPaths?: ReadonlyMap<string, string>
    /** Restarts of the slot's container before this one: each run is a container of its own. */
    run?: number
    /** A start someone waits on (a lost replica back): it goes before the CPU limit applies. */
    unthrottledStart?: boolean
  } = {},
): ContainerSpec {
  const slot = {
    workload: workload.name,
    slot: promise.slot,
    generation: promise.generation,
    since: promise.since,
  }
  // `command` replaces the image's entrypoint (with `args` after it); `args` alone keep it.
  const command = workload.command === undefined ? undefined : [...workload.command, ...(workload.args ?? [])]
  return {
    name: containerName(node, slot, options.run),
    image: workload.image,
    ...(command === undefined ? {} : { command }),
    ...(command === undefined && workload.args !== undefined ? { args: workload.args } : {}),
    env: { ...workload.env, GARY_WORKLOAD: workload.name, GARY_SLOT: String(promise.slot) },
    labels: { ...workload.labels, ...slotLabels(node, slot) },
    restart: { policy: 'no' },
    cpuMillis: workload.resources.cpuMillis,
    ...(options.unthrottledStart === true ? { unthrottledStart: true } : {}),
    memoryBytes: workload.resources.memoryBytes,
    ...(workload.health === undefined ? {} : { health: healthCheckOf(workload.health) }),
    ports: workload.ports.map((port) => ({
      containerPort: port.containerPort,
      protocol: port.protocol,
      ...(port.hostPort === undefined ? {} : { hostPort: port.hostPort }),
    })),
    ...(options.dns === undefined ? {} : { dns: options.dns }),
    ...(workload.volumes === undefined
      ? {}
      : { mounts: mountsOf(node, workload, promise.slot, options.hostPaths) }),
  }
}

/** The slot's mounts: its named volumes (labelled, so `gary volume ls` finds them) and bind mounts. */
function mountsOf(
  node: string,
  workload: Workload,
  slot: number,
  hostPaths: ReadonlyMap<string, string> | undefined,
): Mount[] {
  return (workload.volumes ?? []).map((volume): Mount => {
    const readOnly = volume.readOnly === true
    if (volume.source !== undefined)
      return {
        type: 'bind',
        source: hostPaths?.get(volume.source) ?? volume.source,
        target: volume.target,
        readOnly,
      }
    const name = volume.name ?? ''
    return {
      type: 'volume',
      source: volumeName(node, workload.name, slot, name),
      target: volume.target,
      readOnly,
      labels: {
        [LABELS.node]: node,
        [LABELS.workload]: workload.name,
        [LABELS.slot]: String(slot),
        [LABELS.volume]: name,
      },
    }
  })
}

/** Where a slot's container ports are reached: `host:port->container/proto`. */
export function endpointsOf(ports: PublishedPort[], advertiseHost: string): string[] {
  const seen = new Set<string>()
  for (const port of ports) {
    const host =
      port.hostIp === '0.0.0.0' || port.hostIp === '::' || port.hostIp === '' ? advertiseHost : port.hostIp
    seen.add(
      formatEndpoint({
        host,
        port: port.hostPort,
        containerPort: port.containerPort,
        protocol: port.protocol,
      }),
    )
  }
  return [...seen].slice(0, 16)
}

/**
 * The workload's check as the engine runs it, inside the container. An `http` check becomes a
 * `wget` of the port on the container's loopback (busybox and most base images have it).
 */
function healthCheckOf(health: NonNullable<Workload['health']>): HealthCheck {
  const command = health.command ?? [
    'wget',
    '-q',
    '-O',
    '/dev/null',
    `http://127.0.0.1:${health.http?.port}${health.http?.path ?? '/'}`,
  ]
  return { command, intervalMs: health.intervalMs, timeoutMs: health.timeoutMs, retries: health.retries }
}
