import { isHlc, SlotPromiseSchema } from '@gary/protocol'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { LABELS, parseSlotLabels, slotLabels } from '../src/reconcile/container-labels.js'

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
