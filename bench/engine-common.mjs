// What the one-engine benchmarks (deploy, rollout) share: Gary daemons on the host's Docker
// engine, and a single-node swarm on the same engine when it can be one, both torn down after.
import '../packages/node/dist/polyfill.js'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import { LABELS } from '../packages/node/dist/reconcile/container-labels.js'
import { DaemonProcess, waitFor } from '../packages/node/dist/testing/index.js'

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

/** `nodes` daemons on the engine, joined through the first, once each says it takes new work. */
export async function startDaemons(work, nodes, daemons = []) {
  for (let i = 0; i < nodes; i++) {
    const dir = await mkdtemp(join(work, 'node-'))
    const joinAddrs = i === 0 ? [] : [daemons[0].joinAddr]
    daemons.push(
      // A start takes seconds on a loaded machine (load 60: more than the default 15 s).
      await new DaemonProcess({
        dataDir: dir,
        join: joinAddrs,
        args: ['--runtime', 'docker'],
        startTimeoutMs: 120_000,
      }).start(),
    )
  }
  await waitFor(
    'all nodes alive and warm',
    () => daemons.every((d) => d.hasLog('view complete: taking new work')),
    {
      timeoutMs: 60_000,
    },
  )
  return daemons
}

/** Stops the daemons and removes the containers they leave. */
export async function stopDaemons(daemons, docker) {
  await Promise.all(daemons.map((d) => d.kill('SIGTERM')))
  for (const d of daemons)
    for (const c of await docker.list({ [LABELS.node]: d.peerId })) await docker.remove(c.id).catch(() => {})
}

/** Whether the engine is a swarm manager, making it one if it can (`initialised`: leave after). */
export async function swarmAvailable(docker) {
  const info = await docker.docker.info()
  if (info.Swarm?.LocalNodeState === 'active') return { ok: true, initialised: false }
  try {
    await docker.docker.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' })
    return { ok: true, initialised: true }
  } catch (err) {
    return { ok: false, reason: err.message }
  }
}

/** Removes the benchmark's service, and leaves the swarm if the benchmark made it. */
export async function swarmDone(docker, swarm, service) {
  if (swarm.ok)
    await docker.docker
      .getService(service)
      .remove()
      .catch(() => {})
  if (swarm.initialised) await docker.docker.swarmLeave({ force: true }).catch(() => {})
}
