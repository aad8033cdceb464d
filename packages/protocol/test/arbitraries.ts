import fc from 'fast-check'
import {
  type Heartbeat,
  type Hlc,
  MAX_HLC_LOGICAL,
  MAX_HLC_WALL,
  type NodeState,
  type SlotPromise,
  type StateVersion,
} from '../src/index.js'

/** fast-check 4 makes null-prototype records by default; decoded messages are plain objects. */
export const record = <T>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(shape, { noNullPrototype: true })

// Any UTF-16 code unit sequence, lone surrogates included: JSON must carry them all. Lengths are
// counted in code units because that is what the schema limits count.
const unit = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }), weight: 4 },
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)),
  fc.constantFrom('"', '\\', '\u0000', '\n', '\u2028'),
)
export const text = (minLength: number, maxLength: number) =>
  fc.string({ minLength, maxLength, unit }).filter((s) => s.length >= minLength && s.length <= maxLength)

const alnum = fc.constantFrom(...'ABCXYZabcxyz0189'.split(''))
const keyChar = fc.constantFrom(...'Aaz09._/-'.split(''))

/** A label key the schema accepts: alphanumeric at both ends, at most 63 characters. */
export const labelKey = fc.oneof(
  fc
    .tuple(alnum, fc.option(fc.tuple(fc.string({ unit: keyChar, maxLength: 61 }), alnum), { nil: undefined }))
    .map(([first, rest]) => (rest === undefined ? first : first + rest[0] + rest[1])),
  // Keys that collide with Object.prototype members must survive a round trip as plain data.
  fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf', 'a'.repeat(63)),
)

export const count = fc.oneof(fc.nat(10), fc.maxSafeNat())

/** Timestamps the codec accepts, its edges included. */
export const hlc: fc.Arbitrary<Hlc> = record({
  wall: fc.oneof(fc.nat(10), fc.nat(MAX_HLC_WALL), fc.constant(MAX_HLC_WALL)),
  logical: fc.oneof(fc.nat(10), fc.nat(MAX_HLC_LOGICAL), fc.constant(MAX_HLC_LOGICAL)),
})

export const slotPromise: fc.Arbitrary<SlotPromise> = record({
  workload: text(1, 63),
  slot: count,
  generation: text(1, 64),
  phase: fc.constantFrom('claimed', 'starting', 'running', 'failed', 'releasing'),
  since: hlc,
  ready: fc.boolean(),
  endpoints: fc.array(text(0, 256), { maxLength: 4 }),
})

/** Schema-valid NodeStates, kept small enough that nearly all fit in MAX_NODE_STATE_BYTES. */
export const nodeState: fc.Arbitrary<NodeState> = record({
  node: text(1, 128),
  incarnation: count,
  seq: count,
  addrs: fc.array(text(1, 256), { maxLength: 16 }),
  labels: fc.dictionary(labelKey, text(0, 63), { maxKeys: 64, noNullPrototype: true }),
  capacity: record({ cpuMillis: count, memoryBytes: count }),
  draining: fc.boolean(),
  promises: fc.array(slotPromise, { maxLength: 4 }),
  refusals: fc.array(
    record({ workload: text(1, 63), generation: text(1, 64), reason: text(0, 512), at: hlc }),
    { maxLength: 4 },
  ),
})

/** Versions over a small range, so that ties and near ties are common. */
export const version: fc.Arbitrary<StateVersion> = fc.oneof(
  record({ incarnation: fc.nat(3), seq: fc.nat(3) }),
  record({ incarnation: count, seq: count }),
)

/** A minimal valid NodeState for example tests. */
export function state(node: string, incarnation: number, seq: number): NodeState {
  return {
    node,
    incarnation,
    seq,
    addrs: [],
    labels: {},
    capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 },
    draining: false,
    promises: [],
    refusals: [],
  }
}

/** A heartbeat for example tests. */
export const beat = (
  incarnation: number,
  seq: number,
  members = '00000000',
  decls = '0000000000000000',
  wall = 1_800_000_000_000,
): Heartbeat => ({
  incarnation,
  seq,
  members,
  decls,
  wall,
})
