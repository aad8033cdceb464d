import { HeldVolumeSchema, isHlc, SlotPromiseSchema } from '@gary/protocol'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  LABELS,
  parseSlotLabels,
  parseVolumeLabels,
  slotLabels,
  volumeName,
} from '../src/reconcile/container-labels.js'
import { containerSpecFor } from '../src/reconcile/container-spec.js'

// Anyone who can reach the engine can label a container with a node's id; what a restarted
// daemon adopts from the labels goes into its own state, which every peer must accept.
describe('parseSlotLabels', () => {
  test('reads back what slotLabels wrote', () => {
    const slot = {
      workload: 'web',
      slot: 3,
      generation: 'abc123',
      since: { wall: 1_800_000_000_000, logical: 2 },
    }
    expect(parseSlotLabels(slotLabels('node', slot))).toEqual(slot)
  })

  test('over hostile labels it never throws, and what it adopts is a promise the codec accepts', () => {
    const digits = fc.oneof(
      fc.nat().map(String),
      fc.constantFrom('9007199254740991', '9007199254740993', '8640000000000001', '1'.repeat(400)),
    )
    const labels = fc.record({
      [LABELS.workload]: fc.oneof(fc.string({ maxLength: 100 }), fc.constant('web')),
      [LABELS.generation]: fc.oneof(fc.string({ maxLength: 100 }), fc.constant('abc')),
      [LABELS.slot]: fc.oneof(digits, fc.string()),
      [LABELS.since]: fc.oneof(
        fc.tuple(digits, digits).map(([w, l]) => `${w}.${l}`),
        fc.string(),
      ),
    })
    fc.assert(
      fc.property(labels, (input) => {
        const slot = parseSlotLabels(input)
        if (slot === undefined) return
        expect(isHlc(slot.since)).toBe(true)
        const promise = { ...slot, phase: 'running', ready: true, endpoints: [] }
        expect(SlotPromiseSchema.safeParse(promise).success).toBe(true)
      }),
    )
  })

  test('a claim timestamp past any date is not adopted', () => {
    const labels = slotLabels('node', {
      workload: 'web',
      slot: 0,
      generation: 'g',
      since: { wall: 1, logical: 0 },
    })
    expect(parseSlotLabels({ ...labels, [LABELS.since]: '9007199254740991.0' })).toBeUndefined()
    expect(parseSlotLabels({ ...labels, [LABELS.since]: '1.9007199254740991' })).toBeUndefined()
  })
})

describe('volumes of a slot', () => {
  const workload = {
    name: 'db',
    image: 'img:1',
    env: {},
    mode: 'replicated' as const,
    replicas: 2,
    resources: { cpuMillis: 100, memoryBytes: 2 ** 26 },
    ports: [],
    constraints: {},
    restart: { policy: 'always' as const, maxRetries: 5 },
    update: {
      maxUnavailable: 1,
      monitorMs: 0,
      failureAction: 'rollback' as const,
      order: 'stop-first' as const,
    },
    labels: {},
    volumes: [
      { name: 'data', target: '/var/lib/db' },
      { source: '/srv/link', target: '/conf', readOnly: true as const },
    ],
  }
  const promise = (slot: number, generation: string) => ({
    workload: 'db',
    slot,
    generation,
    phase: 'claimed' as const,
    since: { wall: 1, logical: 0 },
    ready: false,
    endpoints: [],
  })
  const node = 'node-abcdefghijkl'
  const mounts = (slot: number, generation: string) =>
    containerSpecFor(node, workload, promise(slot, generation), {
      hostPaths: new Map([['/srv/link', '/srv/real']]),
    }).mounts ?? []

  test('one named volume per slot and node, the same for every generation; bind mounts use the resolved path', () => {
    const labels = {
      [LABELS.node]: node,
      [LABELS.workload]: 'db',
      [LABELS.slot]: '0',
      [LABELS.volume]: 'data',
    }
    expect(mounts(0, 'g1')).toEqual([
      {
        type: 'volume',
        source: volumeName(node, 'db', 0, 'data'),
        target: '/var/lib/db',
        readOnly: false,
        labels,
      },
      { type: 'bind', source: '/srv/real', target: '/conf', readOnly: true },
    ])
    expect(mounts(0, 'g2')).toEqual(mounts(0, 'g1'))
    expect(mounts(1, 'g1')[0]?.source).not.toBe(mounts(0, 'g1')[0]?.source)
    expect(parseVolumeLabels(labels)).toEqual({ workload: 'db', slot: 0, name: 'data' })
  })

  test('over hostile volume labels it never throws, and what it adopts the node state accepts', () => {
    fc.assert(
      fc.property(
        fc.record({
          [LABELS.workload]: fc.oneof(fc.string({ maxLength: 70 }), fc.constant('db')),
          [LABELS.slot]: fc.oneof(fc.nat().map(String), fc.string(), fc.constant('9007199254740993')),
          [LABELS.volume]: fc.oneof(
            fc.string({ maxLength: 70 }),
            fc.constant('data'),
            fc.constant('\u001b[2J'),
          ),
        }),
        (labels) => {
          const held = parseVolumeLabels(labels)
          if (held !== undefined)
            expect(HeldVolumeSchema.safeParse({ ...held, inUse: true }).success).toBe(true)
        },
      ),
    )
  })
})
