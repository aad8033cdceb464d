import fc from 'fast-check'
import { fromString } from 'uint8arrays'
import { describe, expect, test } from 'vitest'
import {
  appliedEntry,
  banName,
  canonicalJson,
  compareDeclVersions,
  compareEntries,
  type DeclEntry,
  DeclStore,
  type DeclVersion,
  type Decoded,
  decodeDeclEntries,
  encodeDeclEntries,
  refusal as entryRefusal,
  MAX_DECL_MESSAGE_BYTES,
  markName,
  normaliseWorkload,
  PROTOCOL_VERSION,
  type Workload,
} from '../src/index.js'

function workload(name: string, image = 'nginx', replicas = 1): Workload {
  const result = normaliseWorkload({ name, image, replicas })
  if (!result.ok) throw new Error(result.problems.join('; '))
  return result.workloads[0]!
}

const version = (wall: number, origin = 'n1', logical = 0): DeclVersion => ({
  hlc: { wall, logical },
  origin,
})
const put = (name: string, v: DeclVersion, image = 'nginx'): DeclEntry => ({
  name,
  version: v,
  deleted: false,
  workload: workload(name, image),
})
const tombstone = (name: string, v: DeclVersion): DeclEntry => ({ name, version: v, deleted: true })

/** The whole observable state of a store. */
const snapshot = (store: DeclStore) => ({ entries: store.entries(), digest: store.digest() })

// Few names, origins and clock values, so that conflicts, ties and even equal versions with
// different content (which only a faulty peer would send) are common.
const entry: fc.Arbitrary<DeclEntry> = fc
  .record({
    name: fc.constantFrom('api', 'db', 'web'),
    wall: fc.nat(4),
    logical: fc.nat(2),
    origin: fc.constantFrom('nodeA', 'nodeB', 'nodeC'),
    deleted: fc.boolean(),
    image: fc.constantFrom('nginx', 'redis'),
    replicas: fc.nat(3),
    // Some live entries undo an earlier write (an automatic rollback).
    undoes: fc.option(
      fc.record({ back: fc.integer({ min: 1, max: 3 }), origin: fc.constantFrom('nodeA', 'nodeB') }),
      {
        nil: undefined,
      },
    ),
  })
  .map(({ name, wall, logical, origin, deleted, image, replicas, undoes }) => ({
    name,
    version: { hlc: { wall: wall + 3, logical }, origin },
    deleted,
    ...(deleted ? {} : { workload: workload(name, image, replicas) }),
    ...(deleted || undoes === undefined
      ? {}
      : {
          revision: 2,
          rollback: { of: version(wall + 3 - undoes.back, undoes.origin), revision: 1, reason: 'exited' },
        }),
  }))
const entries = fc.array(entry, { maxLength: 12 })

/** What the store must hold: per name, the largest entry by `compareEntries` (ties: larger content). */
function model(all: DeclEntry[]): DeclEntry[] {
  const best = new Map<string, DeclEntry>()
  for (const candidate of all) {
    const current = best.get(candidate.name)
    const order = current === undefined ? 1 : compareEntries(candidate, current)
    if (order > 0 || (order === 0 && canonicalJson(candidate) > canonicalJson(current))) {
      best.set(candidate.name, candidate)
    }
  }
  return [...best.values()].sort((a, b) => (a.name < b.name ? -1 : 1))
}

/** Each entry delivered at least once, some several times, in a shuffled order. */
function deliveries(all: DeclEntry[], noise: fc.Stream<number>): DeclEntry[] {
  const copies = all.flatMap((item) => Array.from({ length: 1 + (noise.next().value % 3) }, () => item))
  return copies
    .map((item) => ({ item, key: noise.next().value }))
    .sort((a, b) => a.key - b.key)
    .map(({ item }) => item)
}

const union = (a: DeclStore, b: DeclStore) => new DeclStore([...a.entries(), ...b.entries()])

describe('DeclStore merge is a CRDT join', () => {
  test('holds, per name, the entry with the largest version', () => {
    fc.assert(
      fc.property(entries, (all) => {
        expect(new DeclStore(all).entries()).toStrictEqual(model(all))
      }),
    )
  })

  test('commutative', () => {
    fc.assert(
      fc.property(entries, entries, (a, b) => {
        expect(snapshot(new DeclStore([...a, ...b]))).toStrictEqual(snapshot(new DeclStore([...b, ...a])))
        expect(snapshot(union(new DeclStore(a), new DeclStore(b)))).toStrictEqual(
          snapshot(union(new DeclStore(b), new DeclStore(a))),
        )
      }),
    )
  })

  test('associative', () => {
    fc.assert(
      fc.property(entries, entries, entries, (a, b, c) => {
        const [sa, sb, sc] = [new DeclStore(a), new DeclStore(b), new DeclStore(c)]
        expect(snapshot(union(union(sa, sb), sc))).toStrictEqual(snapshot(union(sa, union(sb, sc))))
      }),
    )
  })

  test('idempotent', () => {
    fc.assert(
      fc.property(entries, (a) => {
        const store = new DeclStore(a)
        const before = snapshot(store)
        for (const item of store.entries()) expect(store.merge(item)).toBe('unchanged')
        for (const item of a) expect(['unchanged', 'stale']).toContain(store.merge(item))
        expect(snapshot(store)).toStrictEqual(before)
        expect(snapshot(union(store, store))).toStrictEqual(before)
      }),
    )
  })

  test('any delivery order, with duplicates, gives the same store and digest', () => {
    fc.assert(
      fc.property(entries, fc.infiniteStream(fc.nat()), fc.infiniteStream(fc.nat()), (all, first, second) => {
        const one = new DeclStore(deliveries(all, first))
        const two = new DeclStore(deliveries(all, second))
        expect(snapshot(one)).toStrictEqual(snapshot(two))
        expect(snapshot(one)).toStrictEqual(snapshot(new DeclStore(all)))
      }),
    )
  })

  test('the digest is 16 hex digits and tells apart stores that differ', () => {
    fc.assert(
      fc.property(entries, entries, (a, b) => {
        const [sa, sb] = [new DeclStore(a), new DeclStore(b)]
        expect(sa.digest()).toMatch(/^[0-9a-f]{16}$/)
        const summary = (store: DeclStore) =>
          canonicalJson(store.entries().map(({ name, version, deleted }) => [name, version, deleted]))
        expect(sa.digest() === sb.digest()).toBe(summary(sa) === summary(sb))
      }),
    )
  })
})

describe('DeclStore examples', () => {
  test('merge says what it did', () => {
    const store = new DeclStore()
    expect(store.merge(put('web', version(10)))).toBe('created')
    expect(store.merge(put('web', version(10)))).toBe('unchanged')
    expect(store.merge(put('web', version(9), 'old'))).toBe('stale')
    expect(store.merge(put('web', version(11), 'new'))).toBe('updated')
    expect(store.merge(tombstone('web', version(12)))).toBe('deleted')
    expect(store.merge(put('web', version(13), 'back'))).toBe('created')
    expect(store.merge(tombstone('db', version(1)))).toBe('deleted')
    expect(store.live().map((w) => [w.name, w.image])).toStrictEqual([['web', 'back']])
    expect(store.entries().map((e) => [e.name, e.deleted])).toStrictEqual([
      ['db', true],
      ['web', false],
    ])
  })

  test('a tombstone beats an older write and loses to a newer one, in either order', () => {
    for (const order of [0, 1]) {
      const older = put('web', version(5))
      const grave = tombstone('web', version(6))
      const newer = put('web', version(7), 'v2')
      const first = new DeclStore(order === 0 ? [older, grave] : [grave, older])
      expect(first.get('web')).toStrictEqual(grave)
      expect(first.live()).toStrictEqual([])
      const second = new DeclStore(order === 0 ? [grave, newer] : [newer, grave])
      expect(second.get('web')).toStrictEqual(newer)
    }
  })

  test('equal clocks from two origins are decided by origin, the same way everywhere', () => {
    const fromA = put('web', version(5, 'nodeA'), 'a')
    const fromB = put('web', version(5, 'nodeB'), 'b')
    const here = new DeclStore()
    const there = new DeclStore()
    here.merge(fromA)
    expect(here.merge(fromB)).toBe('updated')
    there.merge(fromB)
    expect(there.merge(fromA)).toBe('stale')
    expect(here.get('web')?.workload?.image).toBe('b')
    expect(snapshot(here)).toStrictEqual(snapshot(there))
  })

  test('compareDeclVersions orders by clock, then logical counter, then origin', () => {
    expect(compareDeclVersions(version(1, 'z'), version(2, 'a'))).toBeLessThan(0)
    expect(compareDeclVersions(version(2, 'a', 1), version(2, 'z', 0))).toBeGreaterThan(0)
    expect(compareDeclVersions(version(2, 'a'), version(2, 'b'))).toBeLessThan(0)
    expect(compareDeclVersions(version(2, 'a'), version(2, 'a'))).toBe(0)
  })

  test('a tombstone keeps no workload, whatever it was given', () => {
    const store = new DeclStore([{ ...put('web', version(1)), deleted: true }])
    expect(store.get('web')).toStrictEqual(tombstone('web', version(1)))
  })

  test('collectTombstones removes only tombstones older than the keep time', () => {
    const day = 24 * 3600 * 1000
    const now = 100 * day
    const store = new DeclStore([
      tombstone('old', version(now - 8 * day)),
      tombstone('edge', version(now - 7 * day)),
      tombstone('recent', version(now - day)),
      put('ancient', version(1)),
    ])
    const before = store.digest()
    expect(store.collectTombstones(now, 7 * day)).toStrictEqual(['old'])
    expect(store.entries().map((e) => e.name)).toStrictEqual(['ancient', 'edge', 'recent'])
    expect(store.digest()).not.toBe(before)
    expect(store.collectTombstones(now, 7 * day)).toStrictEqual([])
  })

  test('collectTombstones never removes a live entry, and keeps every tombstone inside the window', () => {
    fc.assert(
      fc.property(entries, fc.nat(6), fc.nat(3), (all, now, keep) => {
        const store = new DeclStore(all)
        const before = store.entries()
        const removed = store.collectTombstones(now, keep)
        const expected = before.filter((e) => e.deleted && e.version.hlc.wall < now - keep)
        expect(removed).toStrictEqual(expected.map((e) => e.name))
        expect(store.entries()).toStrictEqual(before.filter((e) => !expected.includes(e)))
      }),
    )
  })
})

// ---- the wire ----

const json = (value: unknown) => fromString(JSON.stringify(value))
const message = (body: unknown) => json({ v: PROTOCOL_VERSION, t: 'decls', b: body })

function refusal<T>(decoded: Decoded<T>): string {
  if (decoded.ok) expect.fail(`expected a refusal, got ${JSON.stringify(decoded.value)}`)
  expect(decoded.reason).not.toBe('')
  return decoded.reason
}

describe('declarations codec', () => {
  test('entries round trip', () => {
    fc.assert(
      fc.property(entries, (list) => {
        expect(decodeDeclEntries(encodeDeclEntries(list))).toStrictEqual({ ok: true, value: list })
      }),
    )
  })

  test('a whole store round trips and merges to the same store', () => {
    fc.assert(
      fc.property(entries, (list) => {
        const store = new DeclStore(list)
        const decoded = decodeDeclEntries(encodeDeclEntries(store.entries()))
        if (!decoded.ok) expect.fail(decoded.reason)
        expect(snapshot(new DeclStore(decoded.value))).toStrictEqual(snapshot(store))
      }),
    )
  })

  test('garbage never throws and is refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        refusal(decodeDeclEntries(bytes))
      }),
    )
    fc.assert(
      fc.property(fc.anything(), (body) => {
        const decoded = decodeDeclEntries(message(body))
        if (decoded.ok) expect(decoded.value).toStrictEqual([])
      }),
    )
  })

  test('refuses, with a reason, what no honest node sends', () => {
    const live = put('web', version(1))
    expect(refusal(decodeDeclEntries(message([{ ...live, name: 'api' }])))).toContain('name')
    expect(refusal(decodeDeclEntries(message([{ ...live, deleted: true }])))).toContain('workload')
    expect(
      refusal(decodeDeclEntries(message([{ name: 'web', version: version(1), deleted: false }]))),
    ).toContain('workload')
    expect(refusal(decodeDeclEntries(message([{ ...live, extra: 1 }])))).toContain('extra')
    expect(
      refusal(decodeDeclEntries(message([{ ...live, workload: { ...live.workload, replicas: -1 } }]))),
    ).toContain('replicas')
    expect(refusal(decodeDeclEntries(message([tombstone('Web', version(1))])))).toContain('name')
    expect(
      refusal(decodeDeclEntries(message([tombstone('web', { hlc: { wall: -1, logical: 0 }, origin: 'a' })]))),
    )
    expect(refusal(decodeDeclEntries(message({ web: live })))).not.toBe('')
    expect(refusal(decodeDeclEntries(json({ v: PROTOCOL_VERSION, t: 'state', b: [] })))).toContain('decls')
  })

  test('refuses more than 10000 entries and more than the byte limit', () => {
    const many = Array.from({ length: 10_001 }, () => tombstone('web', version(1)))
    expect(refusal(decodeDeclEntries(encodeDeclEntries(many)))).toContain('10000')
    const oversized = new Uint8Array(MAX_DECL_MESSAGE_BYTES + 1)
    expect(refusal(decodeDeclEntries(oversized))).toContain(String(MAX_DECL_MESSAGE_BYTES))
  })
})

describe('bans and generation times in the store', () => {
  const ban = (node: string, v: DeclVersion, lifted = false): DeclEntry => ({
    name: banName(node),
    version: v,
    deleted: lifted,
  })

  test('a ban is an entry like any other: last writer wins, a tombstone lifts it', () => {
    const store = new DeclStore([put('web', version(1)), ban('liar', version(2, 'n1'))])
    expect(store.banned()).toEqual(['liar'])
    expect(store.live().map((w) => w.name)).toEqual(['web'])
    store.merge(ban('liar', version(3, 'n2'), true))
    expect(store.banned()).toEqual([])
    expect(store.merge(ban('liar', version(2, 'n3')))).toBe('stale')
    expect(store.banned()).toEqual([])
  })

  test('bans round trip; a ban carries no workload and no revisions', () => {
    const entries = [put('web', version(5)), ban('liar', version(4)), ban('other', version(6), true)]
    const decoded = decodeDeclEntries(encodeDeclEntries(entries))
    expect(decoded.ok && decoded.value).toEqual(entries)
    for (const bad of [
      { ...ban('liar', version(4)), workload: put('liar', version(4)).workload },
      { ...ban('liar', version(4)), revision: 2 },
      { ...ban('', version(4)) },
    ])
      expect(decodeDeclEntries(encodeDeclEntries([bad as DeclEntry])).ok).toBe(false)
  })

  test('a drain is a member mark beside bans: each kind lists only its own members', () => {
    const drain = (node: string, v: DeclVersion, lifted = false): DeclEntry => ({
      name: markName('drain', node),
      version: v,
      deleted: lifted,
    })
    const entries = [ban('liar', version(2)), drain('n2', version(3)), drain('n3', version(4), true)]
    const decoded = decodeDeclEntries(encodeDeclEntries(entries))
    expect(decoded.ok && decoded.value).toEqual(entries)
    const store = new DeclStore(entries)
    expect(store.marked('drain')).toEqual(['n2'])
    expect(store.banned()).toEqual(['liar'])
    expect(store.live()).toEqual([])
    // A member lifts its own drain (it was the operator's wish, not a sanction).
    expect(entryRefusal(drain('n2', version(5, 'n2'), true), new Set())).toBeUndefined()
    for (const bad of [{ ...drain('', version(4)) }, { ...drain('n2', version(4)), revision: 2 }])
      expect(decodeDeclEntries(encodeDeclEntries([bad as DeclEntry])).ok).toBe(false)
  })

  test('a banned member writes nothing, and no member lifts its own ban', () => {
    const banned = new Set(['liar'])
    expect(entryRefusal(put('web', version(9, 'liar')), banned)).toBe('written by a banned member')
    expect(entryRefusal(ban('liar', version(9, 'liar'), true), new Set())).toBe(
      'a member lifting its own ban',
    )
    expect(entryRefusal(ban('liar', version(9, 'n1'), true), banned)).toBeUndefined()
    expect(entryRefusal(put('web', version(9, 'n1')), banned)).toBeUndefined()
  })

  test('a generation was declared by its oldest revision: a scale or a rollback keeps it', () => {
    const v = (wall: number) => ({ hlc: { wall, logical: 0 }, origin: 'n1' })
    const first = appliedEntry(undefined, workload('web', 'nginx', 1), v(5)) as DeclEntry
    const scaled = appliedEntry(first, workload('web', 'nginx', 4), v(7)) as DeclEntry
    const updated = appliedEntry(scaled, workload('web', 'redis', 4), v(9)) as DeclEntry
    const back = appliedEntry(updated, workload('web', 'nginx', 4), v(11)) as DeclEntry
    expect(new DeclStore([scaled]).generationTimes().get('web')).toEqual({ wall: 5, logical: 0 })
    expect(new DeclStore([updated]).generationTimes().get('web')).toEqual({ wall: 9, logical: 0 })
    expect(new DeclStore([back]).generationTimes().get('web')).toEqual({ wall: 5, logical: 0 })
    // Written before revisions existed: no time, rather than one too late.
    expect(new DeclStore([put('web', version(5))]).generationTimes().size).toBe(0)
  })
})
