import {
  currentState,
  DeclStore,
  type Heartbeat,
  MemberTable,
  type NodeState,
  type SlotPromise,
} from '@gary/protocol'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { ClusterView } from '../src/reconcile/cluster-view.js'

// What the reconcile loop sees: who counts as live, when a new node may claim, and rule 10's
// partial view, read from a member table driven by hand.

const config = { suspectAfterMs: 2000, deadAfterMs: 3000, forgetAfterMs: 3_600_000 }

const nodeState = (node: string): NodeState => ({
  node,
  incarnation: 1,
  seq: 1,
  addrs: [],
  labels: {},
  capacity: { cpuMillis: 1000, memoryBytes: 2 ** 30 },
  draining: false,
  promises: [],
  refusals: [],
})
const beat: Heartbeat = { incarnation: 1, seq: 1, members: '00000000', decls: '0000000000000000', wall: 0 }

function setup(members = new MemberTable('self', config), reads?: (member: string) => boolean) {
  const clock = { now: 0, agreedAt: undefined as number | undefined, agreedWith: new Map<string, number>() }
  const reached: string[][] = []
  const view = new ClusterView(
    { warmupMs: 2000, recentWindowMs: 60_000 },
    {
      members,
      declarations: new DeclStore(),
      self: () => ({ labels: {}, capacity: { cpuMillis: 1000, memoryBytes: 2 ** 30 }, draining: false }),
      now: () => clock.now,
      agreedAt: (peer?: string) => (peer === undefined ? clock.agreedAt : clock.agreedWith.get(peer)),
      reach: (members) => reached.push([...members]),
      ...(reads === undefined ? {} : { reads }),
    },
  )
  return { clock, members, view, reached }
}

describe('the cluster as the reconcile loop sees it', () => {
  test('a new node claims once a peer agrees with its view, or after the warm-up when alone', () => {
    const alone = setup()
    expect(alone.view.read().warm).toBe(false)
    alone.clock.now = 2000
    expect(alone.view.read().warm).toBe(true)

    const joined = setup()
    joined.members.observeState(nodeState('a'), 0)
    expect(joined.view.read().warm).toBe(false)
    joined.clock.agreedAt = 0
    expect(joined.view.read().warm).toBe(true)
  })

  test('a member heard only by heartbeat holds the warm-up until its state arrives', () => {
    const { clock, members, view } = setup()
    clock.agreedAt = 0
    members.observeHeartbeat('a', beat, 0)
    expect(view.read()).toMatchObject({ warm: false, waitingFor: 'a', others: [] })
    members.observeState(nodeState('a'), 10)
    expect(view.read()).toMatchObject({ warm: true, others: [expect.objectContaining({ id: 'a' })] })
  })

  test('a member placement does not read is left out of the view, and does not hold the warm-up', () => {
    const { members, view } = setup(undefined, (member) => member === 'near')
    const promise: SlotPromise = {
      workload: 'web',
      slot: 0,
      generation: 'g',
      phase: 'running',
      since: { wall: 0, logical: 0 },
      ready: true,
      endpoints: [],
    }
    members.observeState({ ...nodeState('near'), promises: [promise] }, 0)
    members.observeState({ ...nodeState('far'), promises: [{ ...promise, slot: 1 }] }, 0)
    // Heard by heartbeat only, out of scope: its state is not waited for.
    members.observeHeartbeat('farther', beat, 0)
    const read = view.read()
    expect(read.others.map((n) => [n.id, n.promises.length])).toEqual([['near', 1]])
    expect(read.index?.promisesFor('web', 0).map((p) => p.nodeId)).toEqual(['near'])
    expect(read.index?.promisesFor('web', 1)).toEqual([])
    expect([...(read.index?.ids() ?? [])]).toEqual(['near'])
    expect(read.waitingFor).toBeUndefined()
  })

  test('a restarted member’s old promises are void from its new incarnation’s first word until its new state', () => {
    const { clock, members, view } = setup()
    clock.agreedAt = 0
    const promise: SlotPromise = {
      workload: 'web',
      slot: 0,
      generation: 'g',
      phase: 'running',
      since: { wall: 0, logical: 0 },
      ready: true,
      endpoints: [],
    }
    members.observeState({ ...nodeState('a'), promises: [promise] }, 0)
    expect(
      view
        .read()
        .index?.promisesFor('web', 0)
        .map((p) => p.nodeId),
    ).toEqual(['a'])
    // Powered off: dead, then its new incarnation's heartbeat brings it back.
    clock.now = 4000
    members.sweep(4000)
    expect(view.read().others).toEqual([])
    members.observeHeartbeat('a', { ...beat, incarnation: 2 }, 4000)
    members.sweep(4000, 'a')
    expect(members.get('a')?.status).toBe('alive')
    const back = view.read()
    expect(back).toMatchObject({ warm: false, waitingFor: 'a', others: [] })
    expect(back.index?.promisesFor('web', 0)).toEqual([])
    // Its new state, with no promise (its containers died with the machine).
    members.observeState({ ...nodeState('a'), incarnation: 2 }, 4010)
    expect(view.read()).toMatchObject({
      warm: true,
      others: [expect.objectContaining({ id: 'a', promises: [] })],
    })
  })

  test('after a partial view, a node takes new work only once a peer of the other side agrees with its view again', () => {
    const { clock, members, view } = setup()
    for (const id of ['a', 'b', 'c', 'd']) members.observeState(nodeState(id), 0)
    clock.agreedAt = 0
    expect(view.read().warm).toBe(true)
    // Cut off with a: b, c and d dead, the view partial; it stays warm (the grace is rule 10's).
    clock.now = 4000
    members.observeHeartbeat('a', beat, 4000)
    members.sweep(4000)
    expect(view.read()).toMatchObject({ partialView: true, warm: true })
    // Healed: b heard again, enough to end rule 10, not enough to know c and d.
    clock.now = 5000
    for (const id of ['a', 'b']) members.observeHeartbeat(id, beat, 5000)
    members.sweep(5000)
    expect(view.read()).toMatchObject({ partialView: false, warm: false })
    // The warm-up is long over, and a, cut off with it, sees what it sees: neither ends the wait.
    clock.now = 9000
    clock.agreedAt = 9000
    clock.agreedWith.set('a', 9000)
    expect(view.read().warm).toBe(false)
    // A peer of the other side agrees: the view is complete again.
    clock.agreedWith.set('b', 9000)
    expect(view.read().warm).toBe(true)
  })

  test('back from a cut with no connection to the other side (heard of by gossip alone), a node asks to reach one of it, and is warm once one agrees', () => {
    // Relayed liveness: members this node is not connected to live by gossip. Connected to a and
    // e, which end on its side of the cut, and to b; c, d and f known by gossip.
    const { clock, members, view, reached } = setup(
      new MemberTable('self', { ...config, indirectDeadAfterMs: 190_000 }),
    )
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f']) members.observeState(nodeState(id), 0)
    for (const id of ['a', 'b', 'e']) members.observeHeartbeat(id, beat, 0)
    clock.agreedAt = 0
    expect(view.read().warm).toBe(true)
    // Cut off with a and e: b dead by heartbeat age, its connection closed; c, d and f reported.
    clock.now = 4000
    for (const id of ['a', 'e']) members.observeHeartbeat(id, beat, 4000)
    for (const id of ['c', 'd', 'f']) members.observeDown(id, { incarnation: 1, seq: 1 }, 'a', 3500, true)
    members.sweep(4000)
    members.setIndirect('b')
    expect(view.read()).toMatchObject({ partialView: true, warm: true })
    expect(reached).toEqual([])
    // Healed, but this node's connections all stayed on its side: a relays the others' new states.
    clock.now = 5000
    for (const id of ['b', 'c', 'd', 'f']) members.observeState({ ...nodeState(id), seq: 2 }, 5000)
    members.sweep(5000)
    expect(members.get('b')).toMatchObject({ status: 'alive', direct: false })
    expect(view.read()).toMatchObject({ partialView: false, warm: false })
    // Only a heartbeat of the other side ends the wait, and none comes without a connection.
    expect(reached).toEqual([['b', 'c', 'd', 'f']])
    clock.now = 9000
    clock.agreedAt = 9000
    for (const id of ['a', 'e']) clock.agreedWith.set(id, 9000)
    expect(view.read().warm).toBe(false)
    expect(reached).toHaveLength(2)
    // Connected to d: no more asking; its heartbeat agrees, and the view is complete again.
    members.observeHeartbeat('d', { ...beat, seq: 2 }, 9100)
    clock.now = 9100
    expect(view.read().warm).toBe(false)
    expect(reached).toHaveLength(2)
    clock.agreedWith.set('d', 9100)
    expect(view.read().warm).toBe(true)
  })

  test('after a split, the member whose death started the roll call is of the other side: agreeing with a peer cut off alike is not enough when it alone is back', () => {
    const { clock, members, view } = setup()
    // Self and a on one side, b, c and d on the other (a split 2|3), all connected.
    for (const id of ['a', 'b', 'c', 'd']) {
      members.observeState(nodeState(id), 0)
      members.observeHeartbeat(id, beat, 0)
    }
    clock.agreedAt = 0
    expect(view.read().warm).toBe(true)
    // Fast detection: b dies first, while c and d are still alive here; a answers the roll call.
    clock.now = 500
    members.observeHeartbeat('a', beat, 500)
    members.observeDown('b', { incarnation: 1, seq: 1 }, 'a', 500, true)
    members.sweep(500)
    expect(members.startRollCall(500)).toBe(true)
    members.observeHeartbeat('a', beat, 510)
    clock.now = 510
    expect(view.read(), 'c and d have not answered').toMatchObject({ partialView: true, warm: true })
    // c and d turn suspect, then dead: the view is partial.
    clock.now = 3500
    members.observeHeartbeat('a', beat, 3500)
    members.sweep(3500)
    expect(view.read()).toMatchObject({ partialView: true })
    // Healed, b first: b heard again, 3 of 5, not partial; c and d still dead here.
    clock.now = 5000
    for (const id of ['a', 'b']) members.observeHeartbeat(id, beat, 5000)
    members.sweep(5000)
    expect(view.read()).toMatchObject({ partialView: false, warm: false })
    // a, cut off alike, agrees with this view: the slots of c and d are not free for that.
    clock.now = 6000
    clock.agreedAt = 6000
    clock.agreedWith.set('a', 6000)
    expect(view.read().warm, 'warm on the word of a peer cut off alike').toBe(false)
    // b, of the other side, agrees: it knows where c and d stand.
    clock.agreedWith.set('b', 6000)
    expect(view.read().warm).toBe(true)
  })

  test('suspect members count as live, dead ones do not', () => {
    const { clock, members, view } = setup()
    members.observeState(nodeState('a'), 0)
    members.observeState(nodeState('b'), 0)
    clock.now = 2500
    members.observeHeartbeat('b', { ...beat }, 2500)
    members.sweep(2500)
    expect(view.read().others.map((n) => n.id)).toEqual(['a', 'b'])
    clock.now = 3500
    members.sweep(3500)
    expect(view.read().others.map((n) => n.id)).toEqual(['b'])
  })

  test('rule 10: seeing fewer than half of the recently seen members is a partial view, and for how long', () => {
    const { clock, members, view } = setup()
    for (const id of ['a', 'b', 'c', 'd']) members.observeState(nodeState(id), 0)
    // One of five gone: not partial.
    clock.now = 4000
    for (const id of ['a', 'b', 'c']) members.observeHeartbeat(id, beat, 4000)
    members.sweep(4000)
    expect(view.read()).toMatchObject({ partialView: false, partialViewForMs: 0 })
    // Only self and a left of five: partial, and it lasts.
    clock.now = 8000
    members.observeHeartbeat('a', beat, 8000)
    members.sweep(8000)
    expect(view.read()).toMatchObject({ partialView: true, partialViewForMs: 0 })
    clock.now = 9000
    members.observeHeartbeat('a', beat, 9000)
    members.sweep(9000)
    expect(view.read()).toMatchObject({ partialView: true, partialViewForMs: 1000 })
    // Once the others are out of the recent window, the smaller cluster is the whole view.
    clock.now = 70_000
    members.observeHeartbeat('a', beat, 70_000)
    members.sweep(70_000)
    expect(view.read()).toMatchObject({ partialView: false })
  })

  test('rule 10: during a roll call (a member just died) only the members that answered count, until all alive have', () => {
    const { clock, members, view } = setup()
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
    for (const id of ids) {
      members.observeState(nodeState(id), 0)
      members.observeHeartbeat(id, beat, 0)
    }
    clock.now = 500
    for (const id of ids.slice(1)) members.observeHeartbeat(id, beat, 500)
    // `a` falls silent and dies by a witness's report while the others are still alive here.
    members.observeDown('a', { incarnation: 1, seq: 1 }, 'w1', 900, true)
    expect(members.sweep(900)).toEqual([{ id: 'a', from: 'alive', to: 'dead' }])
    clock.now = 900
    expect(members.startRollCall(900)).toBe(true)
    expect(members.startRollCall(900), 'one roll call at a time').toBe(false)
    expect(view.read(), 'nobody answered yet').toMatchObject({ partialView: true, partialViewForMs: 0 })
    // Two of the six alive answer: with self, 3 of 8 seen recently.
    clock.now = 910
    for (const id of ['b', 'c']) members.observeHeartbeat(id, beat, 910)
    expect(view.read()).toMatchObject({ partialView: true, partialViewForMs: 0 })
    // A third: 4 of 8, half, not partial; the roll call goes on until all six answered.
    members.observeHeartbeat('d', beat, 910)
    expect(view.read()).toMatchObject({ partialView: false })
    expect(members.rollCalling).toBe(true)
    for (const id of ['e', 'f', 'g']) members.observeHeartbeat(id, beat, 920)
    expect(members.rollCall()).toBeUndefined()
    expect(members.rollCalling).toBe(false)
  })

  test('rule 10: members that said they left are not missed', () => {
    const { clock, members, view } = setup()
    for (const id of ['a', 'b', 'c', 'd']) members.observeState(nodeState(id), 0)
    // Three of five stopped gracefully: self and one member are the whole cluster.
    clock.now = 1000
    for (const id of ['b', 'c', 'd']) members.observeLeft(id, { incarnation: 1, seq: 1 }, 1000)
    members.observeHeartbeat('a', beat, 1000)
    members.sweep(1000)
    expect(view.read()).toMatchObject({ partialView: false })
  })

  test('kept up to date from the changes, the view holds what reading every member afresh gives', () => {
    const ids = ['a', 'b', 'c', 'd', 'e']
    const step = fc.oneof(
      fc.record({ kind: fc.constant('state' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('beat' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('unreachable' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('restart' as const), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 5000 }) }),
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const kept = setup(new MemberTable('self', { ...config, forgetAfterMs: 8000 }))
        const seqs = new Map<string, number>()
        const incarnations = new Map<string, number>()
        // Each state gets a promise list of its own: the view must hold the member's newest one.
        const held = (view: ClusterView) =>
          new Map(view.read().others.map((n) => [n.id, n.promises] as const))
        for (const s of steps) {
          if (s.kind === 'state') {
            const seq = (seqs.get(s.id) ?? 0) + 1
            seqs.set(s.id, seq)
            const incarnation = incarnations.get(s.id) ?? 1
            kept.members.observeState({ ...nodeState(s.id), incarnation, seq, promises: [] }, kept.clock.now)
          } else if (s.kind === 'beat') kept.members.observeHeartbeat(s.id, beat, kept.clock.now)
          else if (s.kind === 'restart') {
            const incarnation = (incarnations.get(s.id) ?? 1) + 1
            incarnations.set(s.id, incarnation)
            seqs.set(s.id, 0)
            kept.members.observeHeartbeat(s.id, { ...beat, incarnation, seq: 0 }, kept.clock.now)
          } else if (s.kind === 'unreachable') kept.members.markUnreachable(s.id, kept.clock.now)
          else kept.clock.now += s.ms
          kept.members.sweep(kept.clock.now)
          // What reading every member afresh gives: the live ones with a current state, as they are now.
          const theirs = new Map(
            [...kept.members.members()].flatMap((m) => {
              const state = currentState(m)
              return state === undefined ? [] : [[m.id, state.promises] as const]
            }),
          )
          const mine = held(kept.view)
          expect([...mine.keys()].sort()).toStrictEqual([...theirs.keys()].sort())
          for (const [id, promises] of mine) expect(promises).toBe(theirs.get(id))
        }
      }),
      { numRuns: 200 },
    )
  })
})
