import fc from 'fast-check'
import { fromString } from 'uint8arrays'
import { describe, expect, test } from 'vitest'
import {
  type Decoded,
  deathKey,
  decodeHeartbeat,
  decodeNodeState,
  decodePeerHints,
  encodeEnvelope,
  encodeHeartbeat,
  encodeNodeState,
  encodePeerHints,
  encodeShortBeat,
  HeartbeatSchema,
  isShortBeat,
  MAX_HEARTBEAT_BYTES,
  MAX_HLC_WALL,
  MAX_NODE_STATE_BYTES,
  MAX_PEER_HINTS,
  MAX_PEER_HINTS_BYTES,
  MAX_SEEN_DEAD,
  type NodeState,
  NodeStateSchema,
  PROTOCOL_VERSION,
  setDigest,
} from '../src/index.js'
import { count, labelKey, nodeState, record, state, text } from './arbitraries.js'

const json = (value: unknown) => fromString(JSON.stringify(value))
const envelope = (body: unknown) => json({ v: PROTOCOL_VERSION, t: 'state', b: body })

/** The reason a decode was refused; fails the test if it was accepted. */
function refusal<T>(decoded: Decoded<T>): string {
  if (decoded.ok) expect.fail(`expected a refusal, got ${JSON.stringify(decoded.value)}`)
  expect(decoded.reason).not.toBe('')
  return decoded.reason
}

describe('NodeState codec', () => {
  test('a valid state round trips to an equal state', () => {
    fc.assert(
      fc.property(nodeState, (input) => {
        const bytes = encodeNodeState(input)
        const decoded = decodeNodeState(bytes)
        if (bytes.byteLength > MAX_NODE_STATE_BYTES) {
          expect(refusal(decoded)).toContain(String(MAX_NODE_STATE_BYTES))
        } else {
          expect(decoded).toStrictEqual({ ok: true, value: input })
        }
      }),
    )
  })

  test('a state at every schema limit round trips', () => {
    const input: NodeState = {
      ...state('n'.repeat(128), Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
      addrs: Array.from({ length: 16 }, (_, i) => `/ip4/10.0.0.${i}/tcp/4001`),
      labels: Object.fromEntries(
        Array.from({ length: 64 }, (_, i) => [`k${i}${'x'.repeat(59)}`, 'v'.repeat(63)]),
      ),
    }
    expect(decodeNodeState(encodeNodeState(input))).toStrictEqual({ ok: true, value: input })
  })

  test('the deaths a node saw round trip up to 16 keys of a peer id and its version, and no more', () => {
    const base = state('n1', 1, 1)
    const key = deathKey('p'.repeat(128), {
      incarnation: Number.MAX_SAFE_INTEGER,
      seq: Number.MAX_SAFE_INTEGER,
    })
    const full = { ...base, seenDead: Array.from({ length: MAX_SEEN_DEAD }, () => key) }
    expect(decodeNodeState(encodeNodeState(full))).toStrictEqual({ ok: true, value: full })
    expect(
      refusal(decodeNodeState(encodeNodeState({ ...full, seenDead: [...full.seenDead, key] }))),
    ).toContain('seenDead')
    expect(refusal(decodeNodeState(encodeNodeState({ ...base, seenDead: [`${key}0`] })))).toContain(
      'seenDead',
    )
  })

  test('a name is taken only as a printable node name, within 63 characters', () => {
    const base = state('n1', 1, 1)
    expect(decodeNodeState(encodeNodeState({ ...base, name: 'alpha-1.example' }))).toMatchObject({ ok: true })
    expect(decodeNodeState(encodeNodeState({ ...base, name: 'a'.repeat(63) }))).toMatchObject({ ok: true })
    for (const name of ['', 'a'.repeat(64), 'evil\u001b[31m', 'two words', '-dash', 'line\nbreak', 'é'])
      expect(refusal(decodeNodeState(encodeNodeState({ ...base, name })))).toContain('name')
  })

  test('decoding arbitrary bytes never throws and refuses with a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        refusal(decodeNodeState(bytes))
        expect(() => decodeHeartbeat(bytes)).not.toThrow()
      }),
    )
  })

  test('decoding arbitrary JSON in a valid envelope never throws, and whatever it accepts is valid', () => {
    const mutated = fc
      .tuple(nodeState, fc.constantFrom(...Object.keys(NodeStateSchema.shape)), fc.jsonValue())
      .map(([valid, key, junk]) => ({ ...valid, [key]: junk }))
    const body = fc.oneof(fc.jsonValue(), mutated, nodeState)
    fc.assert(
      fc.property(body, fc.constantFrom('state', 'hb'), (value, kind) => {
        const bytes = encodeEnvelope(kind, value)
        for (const decoded of [decodeNodeState(bytes), decodeHeartbeat(bytes)]) {
          if (decoded.ok) expect(() => NodeStateSchema.or(HeartbeatSchema).parse(decoded.value)).not.toThrow()
          else expect(decoded.reason).not.toBe('')
        }
      }),
    )
  })

  test('decodes a view into a larger buffer, as network reads hand them over', () => {
    const input = state('peer', 3, 7)
    const inner = encodeNodeState(input)
    const buffer = new Uint8Array(inner.byteLength + 16).fill(0x7b)
    buffer.set(inner, 8)
    expect(decodeNodeState(buffer.subarray(8, 8 + inner.byteLength))).toStrictEqual({
      ok: true,
      value: input,
    })
  })

  test('refuses a message over MAX_NODE_STATE_BYTES, naming the limit', () => {
    const big = {
      ...state('peer', 1, 1),
      addrs: ['x'],
      labels: { pad: 'y' },
      refusals: [] as NodeState['refusals'],
    }
    const oneRefusal = {
      workload: 'w',
      generation: 'g',
      reason: 'r'.repeat(512),
      at: { wall: 1, logical: 0 },
    }
    big.refusals = Array.from({ length: 300 }, () => oneRefusal)
    const bytes = envelope(big)
    expect(bytes.byteLength).toBeGreaterThan(MAX_NODE_STATE_BYTES)
    const reason = refusal(decodeNodeState(bytes))
    expect(reason).toContain(String(MAX_NODE_STATE_BYTES))
    expect(reason).toContain(String(bytes.byteLength))
    // Deflated, it is far smaller than the limit: the limit bounds what it inflates to.
    const deflated = encodeNodeState(big)
    expect(deflated.byteLength).toBeLessThan(MAX_NODE_STATE_BYTES / 10)
    expect(refusal(decodeNodeState(deflated))).toContain(String(MAX_NODE_STATE_BYTES))
  })

  test('the size limit is inclusive: a message of exactly MAX_NODE_STATE_BYTES is parsed, deflated or not', () => {
    const base = envelope(state('peer', 1, 1)).byteLength
    const exact = { ...state('peer', 1, 1), addrs: ['a'.repeat(MAX_NODE_STATE_BYTES - base - 2)] }
    expect(envelope(exact).byteLength).toBe(MAX_NODE_STATE_BYTES)
    // The body is invalid (the address is too long), so it got past the size check to the schema.
    expect(refusal(decodeNodeState(envelope(exact)))).toContain('addrs.0')
    expect(refusal(decodeNodeState(encodeNodeState(exact)))).toContain('addrs.0')
    const over = { ...exact, addrs: [`${exact.addrs[0]}a`] }
    expect(refusal(decodeNodeState(envelope(over)))).toContain(String(MAX_NODE_STATE_BYTES))
    expect(refusal(decodeNodeState(encodeNodeState(over)))).toContain(String(MAX_NODE_STATE_BYTES))
  })

  test('a long state goes deflated, a short one as JSON, and both decode to the state', () => {
    const promise = (slot: number) => ({
      workload: 'web',
      slot,
      generation: 'g1',
      phase: 'running' as const,
      since: { wall: 1_800_000_000_000 + slot, logical: 0 },
      ready: true,
      endpoints: [],
    })
    const long = { ...state('peer', 1, 1), promises: Array.from({ length: 10 }, (_, slot) => promise(slot)) }
    const short = state('peer', 1, 1)
    expect(encodeNodeState(long).byteLength).toBeLessThan(envelope(long).byteLength / 2)
    expect(encodeNodeState(short)).toEqual(envelope(short))
    expect(decodeNodeState(encodeNodeState(long))).toEqual({ ok: true, value: long })
    expect(decodeNodeState(encodeNodeState(short))).toEqual({ ok: true, value: short })
  })

  test('refuses deflated garbage, naming the limit', () => {
    expect(refusal(decodeNodeState(Uint8Array.of(1, 0xff, 0xff, 0xff)))).toContain(
      String(MAX_NODE_STATE_BYTES),
    )
  })

  test.each([
    ['a newer version', PROTOCOL_VERSION + 1],
    ['the version as a string', String(PROTOCOL_VERSION)],
    ['no version', undefined],
  ])('refuses %s', (_, v) => {
    expect(refusal(decodeNodeState(json({ v, t: 'state', b: state('peer', 1, 1) })))).toContain('version')
  })

  test('refuses another kind of message', () => {
    const reason = refusal(decodeNodeState(encodeEnvelope('hb', { incarnation: 1, seq: 1 })))
    expect(reason).toContain('state')
    expect(reason).toContain('"hb"')
    expect(decodeHeartbeat(encodeNodeState(state('peer', 1, 1))).ok).toBe(false)
  })

  test.each([
    ['not JSON', fromString('{"v":1,')],
    ['invalid UTF-8', new Uint8Array([0xff, 0xfe, 0x7b])],
    ['a JSON array', json([1, 'state', {}])],
    ['JSON null', json(null)],
    ['a JSON string', json('state')],
    ['empty', new Uint8Array()],
  ])('refuses %s', (_, bytes) => {
    refusal(decodeNodeState(bytes))
  })

  // Each refusal names where the problem is, so a log line is enough to find the bad field.
  test.each<[string, (s: Record<string, unknown>) => unknown, string[]]>([
    ['an unknown top-level field', (s) => ({ ...s, owner: 'mallory' }), ['owner']],
    [
      'an unknown field in capacity',
      (s) => ({ ...s, capacity: { cpuMillis: 1, memoryBytes: 1, gpus: 1 } }),
      ['capacity', 'gpus'],
    ],
    [
      'an unknown field in a promise',
      (s) => ({
        ...s,
        promises: [
          {
            workload: 'web',
            slot: 0,
            generation: 'g1',
            phase: 'running',
            since: { wall: 1, logical: 0 },
            ready: true,
            endpoints: [],
            leader: true,
          },
        ],
      }),
      ['promises.0', 'leader'],
    ],
    [
      '__proto__ as a field',
      (s) => JSON.parse(JSON.stringify(s).replace('{', '{"__proto__":{"draining":true},')),
      ['__proto__'],
    ],
    ['a label key with a space', (s) => ({ ...s, labels: { 'bad key': 'x' } }), ['labels.bad key']],
    ['a label key starting with a dash', (s) => ({ ...s, labels: { '-zone': 'x' } }), ['labels.-zone']],
    [
      'a label key of 64 characters',
      (s) => ({ ...s, labels: { ['k'.repeat(64)]: 'x' } }),
      [`labels.${'k'.repeat(64)}`],
    ],
    ['a label value of 64 characters', (s) => ({ ...s, labels: { zone: 'v'.repeat(64) } }), ['labels.zone']],
    [
      'more than 64 labels',
      (s) => ({ ...s, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }),
      ['labels', '64'],
    ],
    [
      'a negative cpuMillis',
      (s) => ({ ...s, capacity: { cpuMillis: -1, memoryBytes: 1 } }),
      ['capacity.cpuMillis'],
    ],
    [
      'a fractional memoryBytes',
      (s) => ({ ...s, capacity: { cpuMillis: 1, memoryBytes: 0.5 } }),
      ['capacity.memoryBytes'],
    ],
    ['an unsafe integer seq', (s) => ({ ...s, seq: Number.MAX_SAFE_INTEGER + 1 }), ['seq']],
    ['a negative incarnation', (s) => ({ ...s, incarnation: -1 }), ['incarnation']],
    ['an empty node id', (s) => ({ ...s, node: '' }), ['node']],
    ['a missing node id', ({ node: _, ...s }) => s, ['node']],
    [
      'an HLC with a string wall',
      (s) => ({
        ...s,
        refusals: [{ workload: 'w', generation: 'g', reason: '', at: { wall: '1', logical: 0 } }],
      }),
      ['refusals.0.at.wall'],
    ],
  ])('refuses %s, naming the field', (_, mutate, expected) => {
    const reason = refusal(decodeNodeState(envelope(mutate({ ...state('peer', 1, 1) }))))
    for (const part of expected) expect(reason).toContain(part)
  })

  test('refuses any label key the schema pattern does not allow', () => {
    const badKey = fc.oneof(
      fc
        .string({ minLength: 1, maxLength: 63 })
        .filter((k) => !/^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/.test(k)),
      labelKey.map((k) => `${k}.`),
    )
    fc.assert(
      fc.property(badKey, (key) => {
        fc.pre(key !== '__proto__')
        const body = { ...state('peer', 1, 1), labels: { [key]: 'x' } }
        expect(refusal(decodeNodeState(envelope(body)))).toContain(`labels.${key}`)
      }),
    )
  })
})

describe('Heartbeat codec', () => {
  const digest = fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
    .map((bytes) => bytes.map((b) => b.toString(16).padStart(2, '0')).join(''))

  /** Heartbeats of any counts and digests, their clock from `wall`. */
  const heartbeat = (wall: fc.Arbitrary<number>) =>
    record({
      incarnation: count,
      seq: count,
      members: digest,
      decls: fc.tuple(digest, digest).map(([a, b]) => a + b),
      wall,
    })

  test('a valid heartbeat round trips, in at most 40 bytes', () => {
    fc.assert(
      fc.property(
        heartbeat(fc.oneof(fc.nat(10), fc.nat(MAX_HLC_WALL), fc.constant(MAX_HLC_WALL))),
        fc.boolean(),
        (plain, ask) => {
          // A roll call's heartbeat asks for one back; a plain one carries no `ask` at all.
          const beat = ask ? { ...plain, ask: true as const } : plain
          const bytes = encodeHeartbeat(beat)
          expect(bytes.byteLength).toBeLessThanOrEqual(40)
          expect(decodeHeartbeat(bytes)).toStrictEqual({ ok: true, value: beat })
        },
      ),
    )
  })

  test('a heartbeat of a real node is 27 bytes', () => {
    const bytes = encodeHeartbeat({
      incarnation: 1_795_464_359_719,
      seq: 3,
      members: setDigest(['a', 'b']),
      decls: '0123456789abcdef',
      wall: 1_795_464_360_012,
    })
    expect(bytes.byteLength).toBe(27)
  })

  test('a short beat is 2 bytes, told apart from every heartbeat, and no heartbeat itself', () => {
    expect(encodeShortBeat().byteLength).toBe(2)
    expect(isShortBeat(encodeShortBeat())).toBe(true)
    expect(decodeHeartbeat(encodeShortBeat()).ok).toBe(false)
    fc.assert(
      fc.property(heartbeat(fc.nat(MAX_HLC_WALL)), (beat) => {
        expect(isShortBeat(encodeHeartbeat(beat))).toBe(false)
      }),
    )
  })

  test('refuses a wall time past any date', () => {
    const beat = { incarnation: 1, seq: 1, members: '00000000', decls: '0000000000000000' }
    expect(decodeHeartbeat(encodeHeartbeat({ ...beat, wall: MAX_HLC_WALL })).ok).toBe(true)
    expect(refusal(decodeHeartbeat(encodeHeartbeat({ ...beat, wall: MAX_HLC_WALL + 1 })))).toContain('range')
  })

  test('refuses a heartbeat over MAX_HEARTBEAT_BYTES, naming the limit', () => {
    const bytes = new Uint8Array(MAX_HEARTBEAT_BYTES + 1)
    expect(refusal(decodeHeartbeat(bytes))).toContain(String(MAX_HEARTBEAT_BYTES))
  })

  test('refuses a truncated, padded, other-version or other-kind heartbeat', () => {
    const valid = encodeHeartbeat({
      incarnation: 300,
      seq: 1,
      members: setDigest(['a', 'b']),
      decls: 'fedcba9876543210',
      wall: 1_795_464_360_012,
    })
    expect(decodeHeartbeat(valid).ok).toBe(true)
    expect(refusal(decodeHeartbeat(valid.subarray(0, valid.length - 1)))).toContain('length')
    expect(refusal(decodeHeartbeat(Uint8Array.from([...valid, 0])))).toContain('length')
    expect(refusal(decodeHeartbeat(Uint8Array.from([2, ...valid.subarray(1)])))).toContain('version')
    expect(refusal(decodeHeartbeat(Uint8Array.from([1, 0x73, ...valid.subarray(2)])))).toContain(
      'not a heartbeat',
    )
    expect(
      refusal(
        decodeHeartbeat(Uint8Array.from([1, 0x68, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
      ),
    ).toContain('varint')
    expect(refusal(decodeHeartbeat(encodeEnvelope('hb', { incarnation: 1, seq: 1 })))).toBeTruthy()
  })

  test('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const decoded = decodeHeartbeat(bytes)
        if (decoded.ok) expect(HeartbeatSchema.parse(decoded.value)).toStrictEqual(decoded.value)
      }),
    )
  })
})

describe('PeerHints codec', () => {
  const hint = record({ id: text(1, 128), addrs: fc.array(text(1, 256), { maxLength: 4 }) })

  test('valid hints round trip', () => {
    fc.assert(
      fc.property(fc.array(hint, { maxLength: MAX_PEER_HINTS }), (hints) => {
        const bytes = encodePeerHints(hints)
        fc.pre(bytes.byteLength <= MAX_PEER_HINTS_BYTES)
        expect(decodePeerHints(bytes)).toStrictEqual({ ok: true, value: hints })
      }),
    )
  })

  test(`refuses more than MAX_PEER_HINTS hints, or an oversized answer`, () => {
    const hints = Array.from({ length: MAX_PEER_HINTS + 1 }, (_, i) => ({ id: `peer${i}`, addrs: [] }))
    expect(refusal(decodePeerHints(encodePeerHints(hints)))).toContain(String(MAX_PEER_HINTS))
    const big = encodeEnvelope('peers', [{ id: 'p', addrs: ['a'.repeat(MAX_PEER_HINTS_BYTES)] }])
    expect(refusal(decodePeerHints(big))).toContain(String(MAX_PEER_HINTS_BYTES))
    expect(refusal(decodePeerHints(encodeEnvelope('peers', [{ id: '', addrs: [] }])))).toContain('0.id')
  })
})
