import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type Backend,
  chooseBackend,
  type Endpoint,
  formatEndpoint,
  type MeshNode,
  meshServices,
  normaliseWorkload,
  parseEndpoint,
  type SlotPromise,
  spreadTargets,
  type Workload,
} from '../src/index.js'

const SELF = 'n0'
const nodeIds = ['n0', 'n1', 'n2', 'n3', 'n4']

function workload(name: string, ports: object[]): Workload {
  const result = normaliseWorkload({ name, image: 'busybox', ports })
  if (!result.ok) throw new Error(result.problems.join('\n'))
  return result.workloads[0]!
}

const web = workload('web', [{ container: 8080, published: 80 }, { container: 9090 }])
const api = workload('api', [{ container: 8080, published: 81 }])

const endpoint: fc.Arbitrary<Endpoint> = fc.record(
  {
    host: fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()),
    port: fc.integer({ min: 1, max: 65_535 }),
    containerPort: fc.integer({ min: 1, max: 65_535 }),
    protocol: fc.constantFrom('tcp', 'udp'),
  },
  { noNullPrototype: true },
)

const promise: fc.Arbitrary<SlotPromise> = fc.record(
  {
    workload: fc.constantFrom('web', 'api', 'other'),
    slot: fc.nat(5),
    generation: fc.constant('g1'),
    phase: fc.constantFrom('claimed', 'starting', 'running', 'failed', 'releasing'),
    since: fc.constant({ wall: 1, logical: 0 }),
    ready: fc.boolean(),
    endpoints: fc.array(
      fc.oneof(
        fc
          .record(
            {
              host: fc.ipV4(),
              port: fc.integer({ min: 1, max: 65_535 }),
              containerPort: fc.constantFrom(8080, 9090, 1),
              protocol: fc.constantFrom('tcp', 'udp'),
            },
            { noNullPrototype: true },
          )
          .map((e) => formatEndpoint(e as Endpoint)),
        // An older node's endpoint, or junk: never a backend.
        fc.constantFrom('10.0.0.1:32768/tcp', '', 'x->y'),
      ),
      { maxLength: 3 },
    ),
  },
  { noNullPrototype: true },
)

const view: fc.Arbitrary<MeshNode[]> = fc
  .uniqueArray(fc.constantFrom(...nodeIds), { minLength: 1, maxLength: nodeIds.length })
  .chain((ids) =>
    fc.tuple(
      ...ids.map((id) =>
        fc.record(
          {
            id: fc.constant(id),
            status: fc.constantFrom<MeshNode['status']>('alive', 'suspect', 'dead'),
            promises: fc.uniqueArray(promise, { maxLength: 6, selector: (p) => `${p.workload}/${p.slot}` }),
          },
          { noNullPrototype: true },
        ),
      ),
    ),
  )

const backend = (key: string, local = false): Backend => ({
  key,
  node: key.split('/')[0]!,
  workload: 'web',
  slot: 0,
  host: '10.0.0.1',
  port: 1,
  local,
})

describe('endpoints', () => {
  test('a formatted endpoint parses back to itself', () => {
    fc.assert(
      fc.property(endpoint, (e) => {
        expect(parseEndpoint(formatEndpoint(e))).toEqual(e)
      }),
    )
  })

  test('junk never parses, and never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const parsed = parseEndpoint(text)
        if (parsed !== undefined) expect(formatEndpoint(parsed)).toBe(text)
      }),
    )
    expect(parseEndpoint('10.0.0.1:32768/tcp')).toBeUndefined()
    expect(parseEndpoint('10.0.0.1:0->80/tcp')).toBeUndefined()
    expect(parseEndpoint('[::1]:70000->80/tcp')).toBeUndefined()
  })
})

describe('meshServices', () => {
  test('serves only ready, running slots of live nodes, at the endpoint of the published container port', () => {
    fc.assert(
      fc.property(view, (nodes) => {
        const { services } = meshServices(SELF, [web, api], nodes)
        expect(services.map((s) => [s.workload, s.publishedPort, s.containerPort])).toEqual([
          ['web', 80, 8080],
          ['api', 81, 8080],
        ])
        for (const service of services) {
          const expected = nodes.flatMap((node) =>
            node.status === 'alive' || node.id === SELF
              ? node.promises.flatMap((p) =>
                  p.workload === service.workload && p.phase === 'running' && p.ready
                    ? p.endpoints.flatMap((text) => {
                        const e = parseEndpoint(text)
                        return e?.protocol === 'tcp' && e.containerPort === service.containerPort
                          ? [`${node.id}/${p.workload}/${p.slot}@${e.host}:${e.port}`]
                          : []
                      })
                    : [],
                )
              : [],
          )
          const got = service.backends.map((b) => `${b.key}@${b.host}:${b.port}`)
          expect(got.sort()).toEqual(expected.sort())
          for (const b of service.backends) expect(b.local).toBe(b.node === SELF)
        }
      }),
    )
  })

  test('equal views give equal services, whatever the order of nodes and workloads', () => {
    fc.assert(
      fc.property(view, (nodes) => {
        const a = meshServices(SELF, [web, api], nodes)
        const b = meshServices(SELF, [api, web], [...nodes].reverse())
        expect(b).toEqual(a)
      }),
    )
  })

  test('a port two workloads publish is served by the first by name, and the other is told', () => {
    const other = workload('aaa', [{ container: 1, published: 80 }])
    const { services, clashes } = meshServices(SELF, [web, other], [])
    expect(services.map((s) => s.workload)).toEqual(['aaa'])
    expect(clashes).toEqual([{ port: 80, protocol: 'tcp', workload: 'web', servedBy: 'aaa' }])
  })
})

const keys = fc.uniqueArray(fc.constantFrom(...nodeIds.map((id) => `${id}/web/0`)), {
  minLength: 1,
  maxLength: 5,
})
const seeded = (seed: number) => {
  let x = seed || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

describe('chooseBackend', () => {
  test('never a slot already tried; a failing one only when nothing else is left; local first; fewest connections', () => {
    fc.assert(
      fc.property(
        keys,
        fc.func(fc.nat(5)),
        fc.func(fc.boolean()),
        fc.func(fc.boolean()),
        fc.func(fc.boolean()),
        fc.integer(),
        (ks, active, isLocal, isTried, isFailing, seed) => {
          const backends = ks.map((k) => backend(k, isLocal(k)))
          const tried = new Set(ks.filter((k) => isTried(k)))
          const chosen = chooseBackend({ backends, active, tried, failing: isFailing, random: seeded(seed) })
          const untried = backends.filter((b) => !tried.has(b.key))
          if (untried.length === 0) {
            expect(chosen).toBeUndefined()
            return
          }
          expect(chosen).toBeDefined()
          expect(tried.has(chosen!.key)).toBe(false)
          const healthy = untried.filter((b) => !isFailing(b.key))
          const pool = healthy.length > 0 ? healthy : untried
          expect(pool).toContain(chosen)
          const local = pool.filter((b) => b.local)
          if (local.length > 0) expect(chosen!.local).toBe(true)
          const candidates = local.length > 0 ? local : pool
          expect(active(chosen!.key)).toBe(Math.min(...candidates.map((b) => active(b.key))))
        },
      ),
    )
  })

  test('connections that stay open are spread within one of each other', () => {
    fc.assert(
      fc.property(keys, fc.nat(60), fc.integer(), (ks, connections, seed) => {
        const backends = ks.map((k) => backend(k))
        const open = new Map<string, number>()
        const random = seeded(seed)
        for (let i = 0; i < connections; i++) {
          const chosen = chooseBackend({ backends, active: (k) => open.get(k) ?? 0, random })!
          open.set(chosen.key, (open.get(chosen.key) ?? 0) + 1)
        }
        const counts = ks.map((k) => open.get(k) ?? 0)
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
      }),
    )
  })

  test('ties are broken at random: every tied slot gets picked', () => {
    const backends = ['n1/web/0', 'n2/web/0', 'n3/web/0'].map((k) => backend(k))
    const random = seeded(42)
    const picked = new Set<string>()
    for (let i = 0; i < 100; i++) picked.add(chooseBackend({ backends, active: () => 0, random })!.key)
    expect(picked.size).toBe(3)
  })
})

describe('spreadTargets', () => {
  test('this node’s own slots when it has any, else every slot; the same slots chooseBackend picks from, in key order', () => {
    fc.assert(
      fc.property(keys, fc.func(fc.boolean()), fc.integer(), (ks, isLocal, seed) => {
        const backends = ks.map((k) => backend(k, isLocal(k)))
        const spread = spreadTargets([...backends].reverse())
        const local = backends.filter((b) => b.local)
        const expected = (local.length > 0 ? local : backends).map((b) => b.key).sort()
        expect(spread.map((b) => b.key)).toEqual(expected)
        // Whatever chooseBackend picks with nothing tried or failing is among them.
        const random = seeded(seed)
        for (let i = 0; i < 5; i++)
          expect(spread).toContainEqual(chooseBackend({ backends, active: () => 0, random }))
      }),
    )
    expect(spreadTargets([])).toEqual([])
    // A peer's promise may name two endpoints of one container port: the order still holds.
    const a = { ...backend('n1/web/0'), port: 1 }
    const b = { ...backend('n1/web/0'), port: 2 }
    expect(spreadTargets([b, a])).toEqual(spreadTargets([a, b]))
  })

  test('equal views give equal targets, whatever the order of the slots', () => {
    fc.assert(
      fc.property(view, fc.integer(), (nodes, seed) => {
        const { services } = meshServices(SELF, [web, api], nodes)
        for (const service of services) {
          const random = seeded(seed)
          const shuffled = service.backends
            .map((b) => [random(), b] as const)
            .sort((x, y) => x[0] - y[0])
            .map(([, b]) => b)
          expect(spreadTargets(shuffled)).toEqual(spreadTargets(service.backends))
          // Only ready slots of live nodes, as meshServices serves them.
          for (const target of spreadTargets(service.backends)) expect(service.backends).toContain(target)
        }
      }),
    )
  })
})
