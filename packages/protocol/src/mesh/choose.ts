import type { Backend } from './services.js'

export interface Choice {
  backends: readonly Backend[]
  /** Connections open now, by backend key. */
  active: (key: string) => number
  /** Backends this connection already failed to reach. */
  tried?: ReadonlySet<string>
  /** Backends a connection failed to reach lately: out of rotation while any other is left. */
  failing?: (key: string) => boolean
  /** Uniform in [0, 1): breaks ties, so that equal meshes do not all pick the same slot. */
  random: () => number
}

/**
 * Which slot serves a new connection: never one this connection already tried; one that failed
 * lately only when nothing else is left (a retry beats a refusal); this node's own slots first
 * (no second hop); then the one with the fewest open connections, ties broken at random, which
 * keeps the open connections of a set of slots within one of each other. Undefined when no slot
 * is left.
 */
export function chooseBackend(choice: Choice): Backend | undefined {
  const { tried, failing } = choice
  const untried = tried === undefined ? choice.backends : choice.backends.filter((b) => !tried.has(b.key))
  if (untried.length === 0) return undefined
  const healthy = failing === undefined ? untried : untried.filter((b) => !failing(b.key))
  const pool = healthy.length > 0 ? healthy : untried
  const local = pool.filter((b) => b.local)
  return leastConnections(local.length > 0 ? local : pool, choice)
}

function leastConnections(pool: readonly Backend[], choice: Choice): Backend {
  let best: Backend | undefined
  let bestActive = Number.POSITIVE_INFINITY
  let ties = 0
  for (const backend of pool) {
    const active = choice.active(backend.key)
    if (active < bestActive) {
      best = backend
      bestActive = active
      ties = 1
    } else if (active === bestActive) {
      // Reservoir sampling: each of the tied backends is kept with equal probability.
      ties++
      if (choice.random() * ties < 1) best = backend
    }
  }
  return best as Backend
}

/**
 * The slots a kernel forwarder spreads a port's new connections over, evenly and at random (it
 * counts no connections and cannot retry): the same rule as `chooseBackend` with nothing tried
 * and nothing failing, this node's own slots when it has any, else every slot, in the order of their
 * keys and endpoints, so that equal views give equal rules (a promise may name two endpoints of
 * one container port).
 */
export function spreadTargets(backends: readonly Backend[]): Backend[] {
  const local = backends.filter((b) => b.local)
  const pool = local.length > 0 ? local : [...backends]
  return pool.sort((a, b) => order(a.key, b.key) || order(a.host, b.host) || a.port - b.port)
}

const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
