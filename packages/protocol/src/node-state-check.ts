import { type Decoded, decodeEnvelopeWith } from './envelope.js'
import { MAX_HLC_LOGICAL, MAX_HLC_WALL } from './hlc.js'
import { normalisePath } from './host-path.js'
import {
  HELD_VOLUME_NAME,
  HELD_VOLUME_WORKLOAD,
  NODE_STATE_LIMITS as L,
  LABEL_KEY,
  MAX_DEATH_KEY_CHARS,
  MAX_HELD_VOLUMES,
  MAX_HOST_PATHS,
  MAX_NODE_NAME_CHARS,
  MAX_NODE_STATE_BYTES,
  MAX_SEEN_DEAD,
  NODE_NAME,
  type NodeState,
} from './node-state.js'

// NodeStateSchema's bounds, checked by hand. Every promise state a node receives is checked here
// (about 25 per node for a deploy of 20 across 5 machines), and the schema's parse was three
// quarters of the decode on the lab (docs/design.md, "A received promise state costs less"). It
// accepts exactly what NodeStateSchema accepts and returns what the schema's parse returns:
// node-state-check.test.ts holds it to that with random values, valid, mutated and arbitrary.

/** A problem at a path: the first one found ends the check. */
class Refused {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {}
}

type Obj = Record<string, unknown>

const PHASES = new Set(['claimed', 'starting', 'running', 'restarting', 'failed', 'releasing'])
const PROTOCOLS = new Set(['tcp', 'udp'])

const STATE_KEYS = new Set([
  'node',
  'incarnation',
  'seq',
  'name',
  'addrs',
  'labels',
  'capacity',
  'draining',
  'promises',
  'refusals',
  'unserved',
  'hostPaths',
  'volumes',
  'volumesLeftOut',
  'seenDead',
])
const PROMISE_KEYS = new Set([
  'workload',
  'slot',
  'generation',
  'phase',
  'since',
  'ready',
  'endpoints',
  'container',
  'restarts',
  'exitCode',
  'unhealthy',
  'probation',
])
const REFUSAL_KEYS = new Set(['workload', 'generation', 'reason', 'at', 'rollout'])
const UNSERVED_KEYS = new Set(['port', 'protocol', 'workload', 'reason'])
const VOLUME_KEYS = new Set(['workload', 'slot', 'name', 'inUse'])
const CAPACITY_KEYS = new Set(['cpuMillis', 'memoryBytes'])
const HLC_KEYS = new Set(['wall', 'logical'])

/** Checks a decoded NodeState body against NodeStateSchema's rules; never throws. */
export function checkNodeState(value: unknown): Decoded<NodeState> {
  try {
    return { ok: true, value: nodeState(value) }
  } catch (err) {
    if (!(err instanceof Refused)) throw err
    return { ok: false, reason: err.path === '' ? err.problem : `${err.path}: ${err.problem}` }
  }
}

const at = (path: string, key: string | number) => (path === '' ? String(key) : `${path}.${key}`)

function object(value: unknown, path: string, keys: ReadonlySet<string>): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Refused(path, 'expected an object')
  for (const key in value)
    if (!keys.has(key)) throw new Refused(path, `unrecognized key ${JSON.stringify(key)}`)
  return value as Obj
}

function array(value: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw new Refused(path, 'expected an array')
  if (value.length > max) throw new Refused(path, `has more than ${max} items`)
  return value
}

function string(value: unknown, path: string, min: number, max: number, pattern?: RegExp): string {
  if (typeof value !== 'string') throw new Refused(path, 'expected a string')
  if (value.length < min) throw new Refused(path, `is shorter than ${min} characters`)
  if (value.length > max) throw new Refused(path, `is longer than ${max} characters`)
  if (pattern !== undefined && !pattern.test(value)) throw new Refused(path, 'has an invalid format')
  return value
}

function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new Refused(path, 'expected an integer')
  if (value < min || value > max) throw new Refused(path, `is not within ${min}..${max}`)
  return value
}

const count = (value: unknown, path: string) => integer(value, path, 0, Number.MAX_SAFE_INTEGER)

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new Refused(path, 'expected a boolean')
  return value
}

function literalTrue(value: unknown, path: string): void {
  if (value !== true) throw new Refused(path, 'expected true')
}

function hlc(value: unknown, path: string): void {
  const o = object(value, path, HLC_KEYS)
  integer(o.wall, at(path, 'wall'), 0, MAX_HLC_WALL)
  integer(o.logical, at(path, 'logical'), 0, MAX_HLC_LOGICAL)
}

function nodeState(value: unknown): NodeState {
  const o = object(value, '', STATE_KEYS)
  string(o.node, 'node', 1, L.peerIdChars)
  count(o.incarnation, 'incarnation')
  count(o.seq, 'seq')
  if (o.name !== undefined) string(o.name, 'name', 1, MAX_NODE_NAME_CHARS, NODE_NAME)
  const addrs = array(o.addrs, 'addrs', L.addrs)
  for (let i = 0; i < addrs.length; i++) string(addrs[i], `addrs.${i}`, 1, L.addrChars)
  const labels = checkLabels(o.labels)
  if (labels !== o.labels) o.labels = labels
  const capacity = object(o.capacity, 'capacity', CAPACITY_KEYS)
  count(capacity.cpuMillis, 'capacity.cpuMillis')
  count(capacity.memoryBytes, 'capacity.memoryBytes')
  boolean(o.draining, 'draining')
  const promises = array(o.promises, 'promises', L.promises)
  for (let i = 0; i < promises.length; i++) promise(promises[i], `promises.${i}`)
  const refusals = array(o.refusals, 'refusals', L.refusals)
  for (let i = 0; i < refusals.length; i++) refusal(refusals[i], `refusals.${i}`)
  if (o.unserved !== undefined) {
    const unserved = array(o.unserved, 'unserved', L.unserved)
    for (let i = 0; i < unserved.length; i++) unservedPort(unserved[i], `unserved.${i}`)
  }
  if (o.hostPaths !== undefined) {
    const paths = array(o.hostPaths, 'hostPaths', MAX_HOST_PATHS)
    for (let i = 0; i < paths.length; i++) hostPath(paths[i], `hostPaths.${i}`)
  }
  if (o.volumes !== undefined) {
    const volumes = array(o.volumes, 'volumes', MAX_HELD_VOLUMES)
    for (let i = 0; i < volumes.length; i++) volume(volumes[i], `volumes.${i}`)
  }
  if (o.volumesLeftOut !== undefined) count(o.volumesLeftOut, 'volumesLeftOut')
  if (o.seenDead !== undefined) {
    const deaths = array(o.seenDead, 'seenDead', MAX_SEEN_DEAD)
    for (let i = 0; i < deaths.length; i++) string(deaths[i], `seenDead.${i}`, 1, MAX_DEATH_KEY_CHARS)
  }
  return o as unknown as NodeState
}

/**
 * The labels record, as the schema's parse returns it: the same object, or a copy without an own
 * `__proto__` key (the schema's record skips that key rather than refuse it).
 */
function checkLabels(value: unknown): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Refused('labels', 'expected a record')
  const labels = value as Obj
  let n = 0
  let skipped = false
  for (const key of Object.keys(labels)) {
    if (key === '__proto__') {
      skipped = true
      continue
    }
    string(key, `labels.${key}`, 0, L.labelChars, LABEL_KEY)
    string(labels[key], `labels.${key}`, 0, L.labelChars)
    n++
  }
  if (n > L.labels) throw new Refused('labels', `has more than ${L.labels} labels`)
  if (!skipped) return labels
  const copy: Obj = {}
  for (const key of Object.keys(labels)) if (key !== '__proto__') copy[key] = labels[key]
  return copy
}

function promise(value: unknown, path: string): void {
  const o = object(value, path, PROMISE_KEYS)
  string(o.workload, at(path, 'workload'), 1, L.workloadChars)
  count(o.slot, at(path, 'slot'))
  string(o.generation, at(path, 'generation'), 1, L.generationChars)
  if (typeof o.phase !== 'string' || !PHASES.has(o.phase))
    throw new Refused(at(path, 'phase'), 'is not a phase')
  hlc(o.since, at(path, 'since'))
  boolean(o.ready, at(path, 'ready'))
  const endpoints = array(o.endpoints, at(path, 'endpoints'), L.endpoints)
  for (let i = 0; i < endpoints.length; i++)
    string(endpoints[i], `${path}.endpoints.${i}`, 0, L.endpointChars)
  if (o.container !== undefined) string(o.container, at(path, 'container'), 1, L.containerChars)
  if (o.restarts !== undefined) count(o.restarts, at(path, 'restarts'))
  if (o.exitCode !== undefined) integer(o.exitCode, at(path, 'exitCode'), 0, 255)
  if (o.unhealthy !== undefined) literalTrue(o.unhealthy, at(path, 'unhealthy'))
  if (o.probation !== undefined) literalTrue(o.probation, at(path, 'probation'))
}

function refusal(value: unknown, path: string): void {
  const o = object(value, path, REFUSAL_KEYS)
  string(o.workload, at(path, 'workload'), 1, L.workloadChars)
  string(o.generation, at(path, 'generation'), 1, L.generationChars)
  string(o.reason, at(path, 'reason'), 0, L.reasonChars)
  hlc(o.at, at(path, 'at'))
  if (o.rollout !== undefined) literalTrue(o.rollout, at(path, 'rollout'))
}

function unservedPort(value: unknown, path: string): void {
  const o = object(value, path, UNSERVED_KEYS)
  integer(o.port, at(path, 'port'), 1, 65_535)
  if (typeof o.protocol !== 'string' || !PROTOCOLS.has(o.protocol))
    throw new Refused(at(path, 'protocol'), 'is not tcp or udp')
  string(o.workload, at(path, 'workload'), 1, L.workloadChars)
  string(o.reason, at(path, 'reason'), 0, L.reasonChars)
}

function hostPath(value: unknown, path: string): void {
  const prefix = string(value, path, 0, L.hostPathChars)
  const normal = normalisePath(prefix)
  if (!normal.ok || normal.path !== prefix) throw new Refused(path, 'is not a normalised absolute path')
}

function volume(value: unknown, path: string): void {
  const o = object(value, path, VOLUME_KEYS)
  string(o.workload, at(path, 'workload'), 0, Number.MAX_SAFE_INTEGER, HELD_VOLUME_WORKLOAD)
  count(o.slot, at(path, 'slot'))
  string(o.name, at(path, 'name'), 0, Number.MAX_SAFE_INTEGER, HELD_VOLUME_NAME)
  boolean(o.inUse, at(path, 'inUse'))
}

/** Decodes a NodeState envelope; never throws. */
export const decodeNodeState = (bytes: Uint8Array): Decoded<NodeState> =>
  decodeEnvelopeWith(bytes, 'state', MAX_NODE_STATE_BYTES, checkNodeState)
