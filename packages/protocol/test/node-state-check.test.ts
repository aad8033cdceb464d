import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  checkNodeState,
  MAX_HLC_LOGICAL,
  MAX_HLC_WALL,
  type NodeState,
  NodeStateSchema,
} from '../src/index.js'
import { count, hlc, nodeState, record, text } from './arbitraries.js'

// The hand-written check stands in for NodeStateSchema on every state received: it must accept
// exactly what the schema accepts and return what the schema's parse returns. Values go through
// JSON first, as on the wire (an own `__proto__` key survives that).

const some = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined })

/** Drops the keys an arbitrary left undefined: an optional field is absent, not undefined, on the wire. */
const defined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T

/** Valid states with every optional field, at its edges now and then. */
const fullState: fc.Arbitrary<NodeState> = fc
  .tuple(
    nodeState,
    record({
      name: some(fc.constantFrom('n1', 'alpha-1.example', 'a'.repeat(63), 'A_b.c-9')),
      unserved: some(
        fc.array(
          record({
            port: fc.integer({ min: 1, max: 65_535 }),
            protocol: fc.constantFrom('tcp' as const, 'udp' as const),
            workload: text(1, 63),
            reason: text(0, 512),
          }),
          { maxLength: 3 },
        ),
      ),
      hostPaths: some(fc.array(fc.constantFrom('/', '/srv', '/srv/data', '/a b/c'), { maxLength: 4 })),
      volumes: some(
        fc.array(
          record({
            workload: fc.constantFrom('web', 'a', 'db-1', 'a'.repeat(63)),
            slot: count,
            name: fc.constantFrom('data', 'x_1.y-2', 'A'.repeat(63)),
            inUse: fc.boolean(),
          }),
          { maxLength: 3 },
        ),
      ),
      volumesLeftOut: some(count),
      seenDead: some(fc.array(text(1, 162), { maxLength: 17 })),
    }),
    fc.array(
      record({
        container: some(text(1, 128)),
        restarts: some(count),
        exitCode: some(fc.integer({ min: 0, max: 255 })),
        unhealthy: some(fc.constant(true as const)),
        probation: some(fc.constant(true as const)),
        phase: fc.constantFrom('restarting' as const, 'running' as const),
      }),
      { maxLength: 4 },
    ),
    fc.array(record({ rollout: some(fc.constant(true as const)), at: hlc }), { maxLength: 4 }),
  )
  .map(([base, extra, promiseExtras, refusalExtras]) => ({
    ...base,
    ...defined(extra),
    promises: base.promises.map((p, i) => ({ ...p, ...defined(promiseExtras[i] ?? {}) })),
    refusals: base.refusals.map((r, i) => ({ ...r, ...defined(refusalExtras[i] ?? {}) })),
  }))

const NUMBER_EDGES = [
  -1,
  0.5,
  -0,
  1e300,
  256,
  65_536,
  Number.MAX_SAFE_INTEGER + 1,
  MAX_HLC_WALL + 1,
  MAX_HLC_LOGICAL + 1,
]
const LENGTH_EDGES = [0, 64, 65, 129, 257, 513, 1025]
const PATTERNS = [
  'tcp',
  'sctp',
  'restarting',
  'bogus',
  '/srv/',
  '/srv/../etc',
  'srv',
  '/a\u0000b',
  'Web',
  '-a',
  'a-',
  'A b',
  '_x',
]

/**
 * A value beside the one at a place: of another type now and then, else one across the schema's
 * bounds for values of its type (a string of a length at an edge, a number just out of range, an
 * array or a record one item past a limit).
 */
function beside(current: unknown, pick: number, other: unknown): unknown {
  if (pick % 4 === 0) return other
  const n = Math.floor(pick / 4)
  if (typeof current === 'number') return NUMBER_EDGES[n % NUMBER_EDGES.length]
  if (typeof current === 'string') {
    const all = [...LENGTH_EDGES.map((length) => 'a'.repeat(length)), ...PATTERNS]
    return all[n % all.length]
  }
  if (typeof current === 'boolean') return [1, 'true', null, !current][n % 4]
  if (Array.isArray(current)) {
    const length = [16, 17, 32, 33, 64, 65, 256, 257][n % 8] as number
    return Array.from({ length }, (_, i) => current[i % Math.max(1, current.length)] ?? '/a')
  }
  if (typeof current === 'object' && current !== null) {
    const record = { ...(current as Record<string, unknown>) }
    for (let i = 0; Object.keys(record).length < 63 + (n % 3); i++) record[`k${i}`] = 'v'
    return record
  }
  return other
}

/** Every place in a value that can be set, deleted or added to, by key: [container, key]. */
function places(
  value: unknown,
  out = new Map<string, [Record<string, unknown> | unknown[], string | number][]>(),
) {
  if (typeof value !== 'object' || value === null) return out
  const container = value as Record<string, unknown>
  for (const key of Object.keys(container)) {
    const name = Array.isArray(value) ? '[]' : key
    out.set(name, [...(out.get(name) ?? []), [container, Array.isArray(value) ? Number(key) : key]])
    places(container[key], out)
  }
  return out
}

/** A valid state with one place changed (a field of each name as likely as any other): set beside its value, deleted, or a key added. */
const mutated = fc
  .tuple(
    fullState,
    fc.nat(),
    fc.nat(),
    fc.nat(),
    fc.constantFrom('set', 'set', 'delete', 'add'),
    fc.constantFrom('__proto__', 'constructor', 'extra', 'toString', 'Valid-Key', 'slot', 'name'),
    fc.jsonValue({ maxDepth: 2 }),
  )
  .map(([state, name, pick, junk, op, key, other]) => {
    const copy = JSON.parse(JSON.stringify(state)) as Record<string, unknown>
    const byName = [...places(copy).values()]
    const all = byName[name % byName.length] ?? []
    const [container, at] = all[pick % all.length] ?? [copy, 'node']
    const slot = container as Record<string, unknown>
    if (op === 'delete') {
      if (Array.isArray(container)) container.splice(at as number, 1)
      else delete slot[at]
    } else if (op === 'set') slot[at] = beside(slot[at], junk, other)
    else if (typeof slot[at] === 'object' && slot[at] !== null && !Array.isArray(slot[at]))
      // JSON.parse makes `__proto__` an own key; so does defineProperty.
      Object.defineProperty(slot[at], key, {
        value: other,
        enumerable: true,
        writable: true,
        configurable: true,
      })
    return copy
  })

const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

function agrees(value: unknown): void {
  const expected = NodeStateSchema.safeParse(wire(value))
  const actual = checkNodeState(wire(value))
  expect(actual.ok, JSON.stringify(expected.success ? expected.data : expected.error.issues)).toBe(
    expected.success,
  )
  if (actual.ok && expected.success) expect(actual.value).toStrictEqual(expected.data)
  if (!actual.ok) expect(actual.reason).not.toBe('')
}

describe('checkNodeState', () => {
  test('accepts every valid state, returning what the schema returns', () => {
    fc.assert(fc.property(fullState, agrees))
  })

  // 5000 states outlasted the 60 s default twice in a whole run at load 30 on two cores.
  test('accepts exactly what the schema accepts, a valid state with one place changed', () => {
    fc.assert(fc.property(mutated, agrees), { numRuns: 5000 })
  }, 240_000)

  test('never throws on arbitrary JSON, and agrees with the schema', () => {
    fc.assert(fc.property(fc.jsonValue(), agrees))
  })

  test('an own __proto__ label is dropped, as the schema drops it; anywhere else it is refused', () => {
    const labels = JSON.parse('{"zone":"a","__proto__":"x"}')
    const state = JSON.parse(
      JSON.stringify({
        node: 'n',
        incarnation: 1,
        seq: 1,
        addrs: [],
        capacity: { cpuMillis: 1, memoryBytes: 1 },
        draining: false,
        promises: [],
        refusals: [],
      }),
    )
    state.labels = labels
    agrees(state)
    const decoded = checkNodeState(wire(state))
    expect(decoded.ok && Object.keys(decoded.value.labels)).toEqual(['zone'])
    const top = JSON.parse(JSON.stringify(state).replace('{', '{"__proto__":{},'))
    expect(checkNodeState(top)).toMatchObject({ ok: false })
    agrees(top)
  })
})
