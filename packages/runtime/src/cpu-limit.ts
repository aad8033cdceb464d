/**
 * A CPU limit below one CPU can be applied right after the container's start, not at its creation,
 * for a start someone is waiting on (`ContainerSpec.unthrottledStart`: a replica the cluster lost).
 *
 * Docker enforces `NanoCpus` as a CFS quota on the container's cgroup, and runc's own init runs in
 * that cgroup before the workload's process does: with 50m (5 ms of CPU every 100 ms) one start
 * on a lab engine took 720-770 ms, against 370-480 ms without the limit, and three at once 1.28 s
 * against 0.81 s. But the update is one more engine call (runc runs again): a deploy's many starts
 * on busy engines came out slower with it (about 5 % at 20 replicas on the lab), so other starts
 * take their limit at the creation, as `docker run` does. A quota of one CPU or more never
 * throttles that single busy thread, so such a limit is always given at the creation.
 *
 * The limit the container is to get is kept in a label as well, so that a daemon started since the
 * creation (a container created while a claim settled, then a restart) still applies it. The
 * process runs unthrottled for the few milliseconds between the start and the update.
 */
export const DEFERRED_CPU_LABEL = 'gary.runtime.nano-cpus'

/** Nanocpus of one CPU: a quota of this or more is given at the creation. */
const ONE_CPU = 1_000_000_000

/** Docker's bounds on NanoCpus: at least 0.01 CPU; no host has a million CPUs. */
const MIN_NANO_CPUS = 10_000_000
const MAX_NANO_CPUS = 1_000_000 * ONE_CPU

export function nanoCpusOf(cpuMillis: number): number {
  return Math.round(cpuMillis * 1_000_000)
}

/** Whether a limit of `nanoCpus` is applied after the start rather than at the creation. */
export function deferred(nanoCpus: number, unthrottledStart: boolean): boolean {
  return unthrottledStart && nanoCpus < ONE_CPU
}

/**
 * The limit a container's label asks for: undefined without the label; throws on a label that is
 * no whole number of nanocpus within Docker's bounds (it was written by Gary, so someone changed
 * it, and a start must not go on without a limit it cannot read).
 */
export function deferredCpuOf(labels: Record<string, string> | undefined): number | undefined {
  const text = labels?.[DEFERRED_CPU_LABEL]
  if (text === undefined) return undefined
  const nanoCpus = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN
  if (!(nanoCpus >= MIN_NANO_CPUS && nanoCpus <= MAX_NANO_CPUS))
    throw new Error(`its label ${DEFERRED_CPU_LABEL}=${JSON.stringify(text.slice(0, 40))} is no CPU limit`)
  return nanoCpus
}
