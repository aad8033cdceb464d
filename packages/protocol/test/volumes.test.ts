import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { stringify } from 'yaml'
import {
  decodeNodeState,
  encodeNodeState,
  generationOf,
  hostPathAllowed,
  normaliseHostPathPrefixes,
  normalisePath,
  parseWorkloadFile,
  plan,
  type Workload,
  WorkloadSchema,
} from '../src/index.js'
import { node, workload } from './placement-builders.js'

const parse = (spec: unknown) => parseWorkloadFile(stringify(spec))
const problemsOf = (spec: unknown): string[] => {
  const result = parse(spec)
  return result.ok ? [] : result.problems
}
const base = { name: 'db', image: 'img:1' }

const segment = fc.constantFrom('srv', 'etc', 'x', 'data', '..', '.', '', 'a b', 'srvx')
const path = fc.array(segment, { maxLength: 8 }).map((parts) => `/${parts.join('/')}`)

describe('host path rules', () => {
  test('a normalised path is absolute, has no . or .. or empty segment, and normalising it again changes nothing', () => {
    fc.assert(
      fc.property(path, (raw) => {
        const result = normalisePath(raw)
        expect(result.ok).toBe(true)
        if (!result.ok) return
        expect(result.path.startsWith('/')).toBe(true)
        if (result.path !== '/') expect(result.path.split('/').slice(1)).not.toContain('..')
        expect(
          result.path
            .split('/')
            .slice(1)
            .filter((s) => s === '' || s === '.'),
        ).toEqual(result.path === '/' ? [''] : [])
        expect(normalisePath(result.path)).toEqual(result)
      }),
    )
  })

  test('no path made of .. segments escapes an allowed prefix: allowed means at or below it once normalised', () => {
    fc.assert(
      fc.property(path, path, (rawPrefix, raw) => {
        const [prefix] = normaliseHostPathPrefixes([rawPrefix])
        const result = normalisePath(raw)
        if (!result.ok || prefix === undefined) return
        const allowed = hostPathAllowed(result.path, [prefix])
        const below = prefix === '/' || result.path === prefix || result.path.startsWith(`${prefix}/`)
        expect(allowed).toBe(below)
      }),
    )
  })

  test('the examples: .. cannot climb out, a sibling with the same start is not below', () => {
    const srv = normaliseHostPathPrefixes(['/srv/x/'])
    expect(srv).toEqual(['/srv/x'])
    const at = (raw: string) => hostPathAllowed((normalisePath(raw) as { path: string }).path, srv)
    expect(at('/srv/x/../../etc')).toBe(false)
    expect(at('/srv/x/../x/data')).toBe(true)
    expect(at('/srv/xy')).toBe(false)
    expect(at('/srv/x')).toBe(true)
    expect(at('/../srv/x/./a//b')).toBe(true)
    expect(normalisePath('srv/x')).toMatchObject({ ok: false })
    expect(normalisePath('/a\0b')).toMatchObject({ ok: false })
  })

  test('published prefixes drop duplicates and those another covers', () => {
    expect(normaliseHostPathPrefixes(['/srv/x', '/srv', '/srv/', '/data/a/..'])).toEqual(['/data', '/srv'])
    expect(() => normaliseHostPathPrefixes(['relative'])).toThrow(/absolute/)
  })
})

describe('volumes in a spec', () => {
  test('named volumes and bind mounts come out normalised and survive the wire schema', () => {
    const result = parse({
      ...base,
      volumes: [
        { name: 'data', target: '/var/lib/x/' },
        { source: '/srv/x/../y', target: '/y', readOnly: true },
        { source: '/srv/z', target: '/z', readOnly: false },
      ],
    })
    expect(result).toMatchObject({ ok: true })
    if (!result.ok) return
    const [w] = result.workloads as [Workload]
    expect(w.volumes).toEqual([
      { name: 'data', target: '/var/lib/x' },
      { source: '/srv/y', target: '/y', readOnly: true },
      { source: '/srv/z', target: '/z' },
    ])
    expect(WorkloadSchema.safeParse(w).success).toBe(true)
  })

  test('a workload without volumes keeps its generation; adding one changes it', () => {
    const without = parse(base)
    const withOne = parse({ ...base, volumes: [{ name: 'data', target: '/d' }] })
    if (!without.ok || !withOne.ok) throw new Error('parse failed')
    expect((without.workloads[0] as Workload).volumes).toBeUndefined()
    expect(generationOf(without.workloads[0] as Workload)).toBe(
      generationOf(workload('db', { image: 'img:1' })),
    )
    expect(generationOf(withOne.workloads[0] as Workload)).not.toBe(
      generationOf(without.workloads[0] as Workload),
    )
  })

  test('hostile mounts end in one clear sentence each, at their field', () => {
    const cases: [unknown, RegExp][] = [
      [{ name: 'd', target: 'var/x' }, /volumes\[0\]\.target: "var\/x" is not an absolute path/],
      [{ name: 'd', target: '/' }, /volumes\[0\]: target \/ is the container's root/],
      [{ source: 'srv/x', target: '/x' }, /volumes\[0\]\.source: "srv\/x" is not an absolute path/],
      [{ name: 'a/b', target: '/x' }, /volumes\[0\]\.name: is not a volume name/],
      [{ name: '-x', target: '/x' }, /volumes\[0\]\.name: is not a volume name/],
      [{ name: 'd', source: '/srv', target: '/x' }, /volumes\[0\]: has both name and source: choose one/],
      [{ target: '/x' }, /volumes\[0\]: needs name \(a volume of the node\) or source/],
      [
        { name: 'd', target: '/x', mountPath: '/y' },
        /volumes\[0\]\.mountPath: unknown field \(did you mean target\?\)/,
      ],
      [{ name: 'd', target: '/x', readOnly: 'yes' }, /volumes\[0\]\.readOnly: expected true or false/],
    ]
    for (const [volume, expected] of cases) {
      const problems = problemsOf({ ...base, volumes: [volume] })
      expect(problems, JSON.stringify(volume)).toHaveLength(1)
      expect(problems[0]).toMatch(expected)
    }
  })

  test('two mounts at one target are refused, after normalising', () => {
    const problems = problemsOf({
      ...base,
      volumes: [
        { name: 'a', target: '/data' },
        { source: '/srv', target: '/data/../data/' },
      ],
    })
    expect(problems).toEqual(['spec.volumes[1]: target /data appears twice (also in volumes[0])'])
  })

  test('any input either parses into a workload the wire schema accepts, or is refused with problems', () => {
    const volume = fc.record(
      {
        name: fc.oneof(fc.constantFrom('data', 'a.b_c-d', ''), fc.string({ maxLength: 8 })),
        source: fc.oneof(path, fc.string({ maxLength: 8 })),
        target: fc.oneof(path, fc.string({ maxLength: 8 })),
        readOnly: fc.oneof(fc.boolean(), fc.constant('no')),
      },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(fc.array(volume, { maxLength: 4 }), (volumes) => {
        const result = parse({ ...base, volumes })
        if (result.ok) {
          const [w] = result.workloads as [Workload]
          expect(WorkloadSchema.safeParse(w).success).toBe(true)
          const targets = (w.volumes ?? []).map((v) => v.target)
          expect(new Set(targets).size).toBe(targets.length)
        } else {
          expect(result.problems.length).toBeGreaterThan(0)
          for (const problem of result.problems) expect(problem).toMatch(/^spec\.volumes/)
        }
      }),
    )
  })

  test('the wire schema refuses a path that is not normalised', () => {
    const w = workload('db', { volumes: [{ source: '/srv/../etc', target: '/x' }] })
    expect(WorkloadSchema.safeParse(w).success).toBe(false)
  })
})

describe('placement and host paths', () => {
  const bound = workload('files', { volumes: [{ source: '/srv/x', target: '/x', readOnly: true }] })
  const view = (nodes: ReturnType<typeof node>[]) => ({
    self: 'n1',
    workloads: [bound],
    nodes,
    nowWall: 1000,
    partialView: false,
    partialViewForMs: 0,
  })

  test('a node that does not allow the source never takes the slot; the reason names path and node', () => {
    const refusing = plan(view([node('n1'), node('n2', { hostPaths: ['/data'] })]))
    expect(refusing.assignment.size).toBe(0)
    expect(refusing.unschedulable).toEqual([
      { workload: 'files', slot: 0, reasons: ['host path /srv/x not allowed on n1, n2'] },
    ])
    const allowing = plan(view([node('n1'), node('n2', { hostPaths: ['/srv'] })]))
    expect(allowing.assignment.get('files/0')).toBe('n2')
    expect(allowing.unschedulable).toEqual([])
  })

  test('every node decides alike, whichever prefixes each allows', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(undefined, ['/srv'], ['/srv/x'], ['/data'], ['/']), {
          minLength: 1,
          maxLength: 6,
        }),
        (allowed) => {
          const nodes = allowed.map((hostPaths, i) =>
            node(`n${i}`, hostPaths === undefined ? {} : { hostPaths }),
          )
          const plans = nodes.map((self) => plan({ ...view(nodes), self: self.id }))
          const first = plans[0]!
          for (const other of plans) expect([...other.assignment]).toEqual([...first.assignment])
          const holder = first.assignment.get('files/0')
          if (holder !== undefined)
            expect(hostPathAllowed('/srv/x', nodes.find((n) => n.id === holder)?.hostPaths ?? [])).toBe(true)
          else expect(nodes.every((n) => !hostPathAllowed('/srv/x', n.hostPaths ?? []))).toBe(true)
        },
      ),
    )
  })

  test('a node holding the slot that stops allowing the path releases it', () => {
    const generation = generationOf(bound)
    const promise = {
      workload: 'files',
      slot: 0,
      generation,
      phase: 'running' as const,
      since: { wall: 100, logical: 0 },
      ready: true,
      endpoints: [],
    }
    const p = plan(view([node('n1', { promises: [promise] }), node('n2', { hostPaths: ['/srv'] })]))
    expect(p.actions).toContainEqual(
      expect.objectContaining({ kind: 'release', workload: 'files', reason: 'ineligible' }),
    )
    expect(p.assignment.get('files/0')).toBe('n2')
  })

  test('a node state carries its prefixes and held volumes; a prefix that is not normalised is refused', () => {
    const state = {
      node: 'n1',
      incarnation: 1,
      seq: 1,
      addrs: [],
      labels: {},
      capacity: { cpuMillis: 1000, memoryBytes: 1 },
      draining: false,
      promises: [],
      refusals: [],
      hostPaths: ['/srv'],
      volumes: [{ workload: 'db', slot: 0, name: 'data', inUse: true }],
    }
    expect(decodeNodeState(encodeNodeState(state))).toMatchObject({ ok: true, value: state })
    expect(decodeNodeState(encodeNodeState({ ...state, hostPaths: ['/srv/../etc'] }))).toMatchObject({
      ok: false,
    })
  })

  describe('a free slot goes back to its data', () => {
    const db = workload('db', { replicas: 2, volumes: [{ name: 'data', target: '/d' }] })
    const at = (nodes: ReturnType<typeof node>[], w = db) =>
      plan({ self: 'n1', workloads: [w], nodes, nowWall: 1000, partialView: false, partialViewForMs: 0 })
        .assignment
    const holding = (slot: number) => ({ volumes: [{ workload: 'db', slot }] })

    test('to the node holding the slot’s volume, over spread, load and hash', () => {
      const plain = at([node('n1'), node('n2'), node('n3')])
      for (const slot of [0, 1]) {
        // The node the rules would not pick for the slot, given its volume.
        const other = ['n1', 'n2', 'n3'].find((id) => id !== plain.get(`db/${slot}`)) as string
        const nodes = ['n1', 'n2', 'n3'].map((id) => node(id, id === other ? holding(slot) : {}))
        expect(at(nodes).get(`db/${slot}`)).toBe(other)
      }
      // Both slots' volumes on one node: both slots go there, spread or not.
      const both = at([
        node('n1'),
        node('n2', {
          volumes: [
            { workload: 'db', slot: 0 },
            { workload: 'db', slot: 1 },
          ],
        }),
      ])
      expect([both.get('db/0'), both.get('db/1')]).toEqual(['n2', 'n2'])
    })

    test('unless the holder has no room, may not take it, or the workload keeps no named volume', () => {
      const full = { capacity: { cpuMillis: 50, memoryBytes: 8 * 2 ** 30 } }
      expect(at([node('n1'), node('n2', { ...holding(0), ...full })]).get('db/0')).toBe('n1')
      const labelled = workload('db', { replicas: 1, constraints: { disk: 'ssd' }, volumes: db.volumes })
      expect(
        at([node('n1', { labels: { disk: 'ssd' } }), node('n2', holding(0))], labelled).get('db/0'),
      ).toBe('n1')
      const plainNodes = [node('n1'), node('n2')]
      const chosen = at(plainNodes, workload('db')).get('db/0')
      const other = chosen === 'n1' ? 'n2' : 'n1'
      const withVolumeThere = plainNodes.map((n) => (n.id === other ? node(n.id, holding(0)) : n))
      expect(at(withVolumeThere, workload('db')).get('db/0')).toBe(chosen)
    })

    test('every node places alike, whichever holds what', () => {
      fc.assert(
        fc.property(fc.array(fc.subarray([0, 1, 2]), { minLength: 1, maxLength: 5 }), (held) => {
          const nodes = held.map((slots, i) =>
            node(`n${i}`, { volumes: slots.map((slot) => ({ workload: 'db', slot })) }),
          )
          const w = workload('db', { replicas: 3, volumes: [{ name: 'data', target: '/d' }] })
          const plans = nodes.map((self) =>
            plan({
              self: self.id,
              workloads: [w],
              nodes,
              nowWall: 1000,
              partialView: false,
              partialViewForMs: 0,
            }),
          )
          for (const p of plans) expect([...p.assignment]).toEqual([...(plans[0] as typeof p).assignment])
          for (const slot of [0, 1, 2]) {
            const holders = nodes.filter((n) => n.volumes?.some((v) => v.slot === slot)).map((n) => n.id)
            const got = plans[0]?.assignment.get(`db/${slot}`)
            if (holders.length > 0) expect(holders).toContain(got)
          }
        }),
      )
    })
  })
})
