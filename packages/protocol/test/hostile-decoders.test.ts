import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  type DeclEntry,
  type Decoded,
  decodeDeclEntries,
  decodeHeartbeat,
  decodeMemberNote,
  decodeMemberStates,
  decodeMemberVersions,
  decodeNodeState,
  decodePeerHints,
  encodeDeclEntries,
  encodeEnvelope,
  encodeHeartbeat,
  encodeMemberNote,
  encodeMemberStates,
  encodeMemberVersions,
  encodeNodeState,
  encodePeerHints,
  type Hlc,
  hlcReceive,
  hlcTick,
  incarnationAfter,
  isHlc,
  MAX_HLC_LOGICAL,
  MAX_HLC_WALL,
  normaliseWorkload,
  PeerClocks,
  PROTOCOL_VERSION,
} from '../src/index.js'
import { count, hlc, nodeState, record, text } from './arbitraries.js'

/**
 * Every decoder of what peers send, fed valid messages whose values were swapped for what a
 * hostile key holder or a damaged file would put there: it never throws, whatever it accepts it
 * would accept again unchanged (so nothing downstream can build a value the codec refuses from
 * it), and no timestamp or version in it can take this node's clock past the bound or leave its
 * next incarnation out of range.
 */

const NOW = 1_800_000_000_000
const BOUND = DEFAULT_MAX_CLOCK_OFFSET_MS

/** Numbers at and past every limit a schema-less reader would trip on, and JSON of other types. */
const hostileLeaf: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      Number.MAX_SAFE_INTEGER,
      MAX_HLC_WALL + 1,
      MAX_HLC_LOGICAL + 1,
      NOW + 365 * 24 * 3600 * 1000,
    ),
  },
  fc.constantFrom(
    Number.MAX_SAFE_INTEGER,
    2 ** 53,
    2 ** 53 + 2,
    MAX_HLC_WALL,
    MAX_HLC_WALL + 1,
    MAX_HLC_LOGICAL,
    MAX_HLC_LOGICAL + 1,
    NOW + 365 * 24 * 3600 * 1000,
    -1,
    -0,
    0.5,
    1e308,
    '1',
    null,
    true,
    [],
    {},
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 2 }),
)

/**
 * The value with a leaf or two replaced: edit `[i, x]` puts `x` at leaf `i` (modulo the leaves, in
 * walk order). Few edits, so that the rest stays valid and the hostile value is what is judged.
 */
function mutate(value: unknown, edits: [number, unknown][]): unknown {
  let leaves = 0
  const count = (node: unknown): void => {
    if (node !== null && typeof node === 'object') for (const child of Object.values(node)) count(child)
    else leaves++
  }
  count(value)
  const at = new Map(edits.map(([i, x]) => [i % Math.max(leaves, 1), x]))
  let leaf = 0
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk)
    if (node !== null && typeof node === 'object')
      return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, walk(child)]))
    const i = leaf++
    return at.has(i) ? at.get(i) : node
  }
  return walk(value)
}

/** Every {wall, logical} in a decoded value. */
function timestamps(value: unknown, out: Hlc[] = []): Hlc[] {
  if (Array.isArray(value)) for (const item of value) timestamps(item, out)
  else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>
    if (typeof record.wall === 'number' && typeof record.logical === 'number')
      out.push(record as unknown as Hlc)
    else for (const child of Object.values(record)) timestamps(child, out)
  }
  return out
}

/** Every incarnation in a decoded value. */
function incarnations(value: unknown, out: number[] = []): number[] {
  if (Array.isArray(value)) for (const item of value) incarnations(item, out)
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === 'incarnation' && typeof child === 'number') out.push(child)
      else incarnations(child, out)
    }
  }
  return out
}

/** What the node does with a decoded value's clocks and versions, checked to stay in range. */
function clockAndVersionsStayInRange(value: unknown): void {
  const clock = hlcTick({ wall: 0, logical: 0 }, NOW)
  for (const t of timestamps(value)) {
    expect(isHlc(t), `${JSON.stringify(t)} is a timestamp the codec accepts`).toBe(true)
    const received = hlcReceive(clock, t, NOW, BOUND)
    if (received.ok) {
      expect(isHlc(received.hlc)).toBe(true)
      expect(received.hlc.wall).toBeLessThanOrEqual(NOW + BOUND)
    } else expect(t.wall - NOW).toBeGreaterThanOrEqual(BOUND)
  }
  for (const incarnation of incarnations(value)) {
    // Were it this node's own (a restart reading it back), it starts past it or says why not.
    const next = incarnationAfter(String(incarnation), NOW)
    if (next.ok) {
      expect(Number.isSafeInteger(next.incarnation)).toBe(true)
      expect(next.incarnation).toBeGreaterThan(incarnation)
    } else expect(incarnation).toBe(Number.MAX_SAFE_INTEGER)
  }
}

function workload(name: string, image: string, replicas: number) {
  const result = normaliseWorkload({ name, image, replicas })
  if (!result.ok) throw new Error(result.problems.join('; '))
  return result.workloads[0]!
}

const declEntry: fc.Arbitrary<DeclEntry> = fc
  .record({
    name: fc.constantFrom('api', 'web'),
    hlc,
    origin: text(1, 128),
    deleted: fc.boolean(),
    replicas: fc.nat(5),
  })
  .map(({ name, hlc, origin, deleted, replicas }) => ({
    name,
    version: { hlc, origin },
    deleted,
    ...(deleted ? {} : { workload: workload(name, 'gary/busybox:1', replicas) }),
  }))

const memberVersion = record({
  node: text(1, 128),
  incarnation: count,
  seq: count,
  dead: fc.option(fc.boolean(), { nil: undefined }),
}).map((v) => (v.dead === undefined ? { node: v.node, incarnation: v.incarnation, seq: v.seq } : v))

interface Codec<T> {
  kind: string
  valid: fc.Arbitrary<T>
  encode(value: T): Uint8Array
  decode(bytes: Uint8Array): Decoded<T>
}

const codecs: Record<string, Codec<unknown>> = {
  NodeState: {
    kind: 'state',
    valid: nodeState,
    encode: encodeNodeState,
    decode: decodeNodeState,
  } as Codec<unknown>,
  'member note': {
    kind: 'member',
    valid: record({
      kind: fc.constantFrom('alive' as const, 'down' as const, 'left' as const),
      node: text(1, 128),
      incarnation: count,
      seq: count,
    }),
    encode: encodeMemberNote,
    decode: decodeMemberNote,
  } as Codec<unknown>,
  declarations: {
    kind: 'decls',
    valid: fc.array(declEntry, { maxLength: 3 }),
    encode: encodeDeclEntries,
    decode: decodeDeclEntries,
  } as Codec<unknown>,
  'peer hints': {
    kind: 'peers',
    valid: fc.array(record({ id: text(1, 128), addrs: fc.array(text(1, 64), { maxLength: 3 }) }), {
      maxLength: 4,
    }),
    encode: encodePeerHints,
    decode: decodePeerHints,
  } as Codec<unknown>,
  'member sync request': {
    kind: 'member-versions',
    valid: fc.array(memberVersion, { maxLength: 4 }),
    encode: encodeMemberVersions,
    decode: decodeMemberVersions,
  } as Codec<unknown>,
  'member sync answer': {
    kind: 'member-states',
    valid: fc.array(nodeState, { maxLength: 2 }),
    encode: encodeMemberStates,
    decode: decodeMemberStates,
  } as Codec<unknown>,
}

describe.each(Object.entries(codecs))('the %s decoder over hostile values', (_, codec) => {
  test('never throws; what it accepts it accepts again unchanged, and stays in range for the clock', () => {
    fc.assert(
      fc.property(
        codec.valid,
        fc.array(fc.tuple(fc.nat(), hostileLeaf), { minLength: 1, maxLength: 2 }),
        (value, edits) => {
          const bytes = encodeEnvelope(codec.kind, mutate(value, edits))
          const decoded = codec.decode(bytes)
          if (!decoded.ok) {
            expect(decoded.reason).not.toBe('')
            return
          }
          expect(codec.decode(codec.encode(decoded.value))).toStrictEqual(decoded)
          clockAndVersionsStayInRange(decoded.value)
        },
      ),
    )
  })

  test('never throws on arbitrary bytes or envelopes', () => {
    const body = fc.oneof(fc.jsonValue(), fc.anything())
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          body.map((b) => encodeEnvelope(codec.kind, b)),
        ),
        (bytes) => {
          const decoded = codec.decode(bytes)
          if (decoded.ok) clockAndVersionsStayInRange(decoded.value)
        },
      ),
    )
  })
})

describe('the heartbeat decoder over hostile values', () => {
  /** LEB128, exact to 2^64 (the decoder reads at most 8 bytes), for values no honest encoder writes. */
  const varint = (value: bigint): number[] => {
    const out: number[] = []
    let rest = value
    do {
      const byte = Number(rest & 0x7fn)
      rest >>= 7n
      out.push(rest > 0n ? byte | 0x80 : byte)
    } while (rest > 0n)
    return out
  }
  const big = fc.oneof(
    fc.bigInt({ min: 0n, max: 2n ** 64n }),
    fc.constantFrom(
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 56n - 1n,
      BigInt(MAX_HLC_WALL),
      BigInt(MAX_HLC_WALL) + 1n,
    ),
  )
  const crafted = fc
    .tuple(big, big, big, fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 3 }))
    .map(([incarnation, seq, wall, digests, extra]) =>
      Uint8Array.from([
        PROTOCOL_VERSION,
        0x68,
        ...varint(incarnation),
        ...varint(seq),
        ...varint(wall),
        ...digests,
        ...extra,
      ]),
    )
  const edited = fc
    .tuple(
      record({ incarnation: count, seq: count, wall: fc.nat(MAX_HLC_WALL) }),
      fc.array(fc.tuple(fc.nat(40), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    )
    .map(([beat, edits]) => {
      const bytes = [...encodeHeartbeat({ ...beat, members: '00000000', decls: '0000000000000000' })]
      for (const [at, byte] of edits) bytes[at % (bytes.length + 1)] = byte
      return Uint8Array.from(bytes)
    })

  test('never throws; what it accepts it accepts again unchanged, and a peer clock from it is a finite offset', () => {
    fc.assert(
      fc.property(fc.oneof(crafted, edited, fc.uint8Array({ maxLength: 64 })), (bytes) => {
        const decoded = decodeHeartbeat(bytes)
        if (!decoded.ok) return
        expect(decodeHeartbeat(encodeHeartbeat(decoded.value))).toStrictEqual(decoded)
        expect(decoded.value.wall).toBeLessThanOrEqual(MAX_HLC_WALL)
        clockAndVersionsStayInRange(decoded.value)
        const clocks = new PeerClocks(BOUND, 10_000, 1)
        clocks.observe('peer', decoded.value.wall, NOW, 0)
        expect(Number.isFinite(clocks.offsetOf('peer', 0))).toBe(true)
      }),
    )
  })
})
