import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  DeclStore,
  type Heartbeat,
  type MemberNote,
  type NodeState,
} from '@gary/protocol'
import { pino } from 'pino'
import { ClockGuard } from '../src/clock/clock-guard.js'
import { DeclarationsAgent, type DeclarationsPort } from '../src/declarations/agent.js'
import { MembershipAgent } from '../src/membership/agent.js'
import type { MembershipInit } from '../src/membership/context.js'
import type { Connections, DialTarget, MembershipPort, Reply } from '../src/membership/port.js'
import { SelfState } from '../src/membership/self-state.js'
import { SteppedClock } from '../src/testing/stepped-clock.js'

/** A request an agent made through the fake port, answered (or not) by the test. */
export interface Call {
  kind: string
  peer?: string
  topic?: string
  state?: NodeState
  note?: MemberNote
  beat?: Heartbeat
  target?: DialTarget
  done?: Reply<never>
}

/**
 * A port that does nothing but write down what the agent asked for: the test answers requests
 * itself (`answer`) and opens connections by calling the agent (`connect`).
 */
export class FakePort implements MembershipPort, DeclarationsPort {
  readonly calls: Call[] = []
  readonly links = new Set<string>()

  connections(): Connections {
    return this.links
  }

  sendHeartbeats(beatFor: (peer: string) => Heartbeat, to?: string): void {
    for (const peer of to === undefined ? this.links : [to])
      this.calls.push({ kind: 'heartbeat', peer, beat: beatFor(peer) })
  }

  publishState(topic: string, state: NodeState, done: Reply<number>): void {
    this.#push({ kind: 'publish state', topic, state, done })
  }

  publishNote(topic: string, note: MemberNote, done: Reply<number>): void {
    this.#push({ kind: 'publish note', topic, note, done })
  }

  pullState(
    peer: string,
    _addrs: readonly string[] | undefined,
    _timeoutMs: number,
    done: Reply<NodeState>,
  ): void {
    this.#push({ kind: 'pull state', peer, done })
  }

  syncMembers(peer: string, _versions: unknown, _timeoutMs: number, done: Reply<NodeState[]>): void {
    this.#push({ kind: 'sync members', peer, done })
  }

  askPeers(peer: string, _timeoutMs: number, done: Reply<{ id: string; addrs: string[] }[]>): void {
    this.#push({ kind: 'ask peers', peer, done })
  }

  tell(peer: string, note: MemberNote, _timeoutMs: number, done: Reply<void>): void {
    this.#push({ kind: 'tell', peer, note, done })
  }

  dial(target: DialTarget, _timeoutMs: number, done: Reply<string>): boolean {
    this.#push({ kind: 'dial', peer: target.kind === 'join' ? target.addr : target.id, target, done })
    return true
  }

  hangUp(peer: string): void {
    this.links.delete(peer)
    this.calls.push({ kind: 'hang up', peer })
  }

  /** How knocks at members' machines are answered: at once, or by the test (`undefined`). */
  machines: 'up' | 'down' | undefined

  knock(peer: string, _addrs: readonly string[], _timeoutMs: number, done: Reply<void>): void {
    this.#push({ kind: 'knock', peer, done })
    if (this.machines === 'up') done({ ok: true, value: undefined })
    else if (this.machines === 'down') done({ ok: false, reason: 'no answer' })
  }

  publish(_entries: unknown, done: Reply<number>): void {
    this.#push({ kind: 'publish declarations', done })
  }

  pull(peer: string, _timeoutMs: number, done: Reply<never>): void {
    this.#push({ kind: 'pull declarations', peer, done })
  }

  changed(): void {
    this.calls.push({ kind: 'changed' })
  }

  /** The calls of one kind (and to one peer), in order. */
  of(kind: string, peer?: string): Call[] {
    return this.calls.filter((call) => call.kind === kind && (peer === undefined || call.peer === peer))
  }

  /** Answers a request: the value, or a failure. */
  answer(call: Call | undefined, value: unknown): void {
    if (call?.done === undefined) throw new Error('no such request')
    const done = call.done as Reply<unknown>
    done(value instanceof Error ? { ok: false, reason: value.message } : { ok: true, value })
  }

  clear(): void {
    this.calls.length = 0
  }

  #push(call: Call): void {
    this.calls.push(call)
  }
}

export const CLUSTER = 'c'

export const content = {
  addrs: ['/ip4/10.0.0.1/tcp/7946'],
  labels: {},
  capacity: { cpuMillis: 1000, memoryBytes: 1 << 30 },
  draining: false,
  promises: [],
  refusals: [],
}

export const stateOf = (node: string, seq = 1, incarnation = 1): NodeState => ({
  node,
  incarnation,
  seq,
  ...content,
})

export interface MembershipRig {
  agent: MembershipAgent
  port: FakePort
  clock: SteppedClock
  self: SelfState
  /** Times the placement view changed. */
  changes: number[]
  decls: { digest: string }
  clockGuard: ClockGuard
}

/** A membership agent for node `id` over a fake port, on a stepped clock at 0, not started. */
export function membershipRig(
  id = 'self',
  init: Partial<MembershipInit> = {},
  random = () => 0.5,
): MembershipRig {
  const port = new FakePort()
  const clock = new SteppedClock()
  const self = new SelfState(id, 1, content)
  const changes: number[] = []
  const decls = { digest: 'd0' }
  const clockGuard = clockGuardOf(clock)
  const agent = new MembershipAgent(
    {
      cluster: CLUSTER,
      join: [],
      heartbeatMs: 1000,
      suspectAfterMs: 2000,
      deadAfterMs: 3000,
      targetPeers: 32,
      promiseShards: 1,
      ...init,
    },
    {
      port,
      clock,
      clockGuard,
      random,
      logger: pino({ level: 'silent' }),
      self,
      declsDigest: () => decls.digest,
      onChange: () => changes.push(clock.now()),
    },
  )
  return { agent, port, clock, self, changes, decls, clockGuard }
}

/** A heartbeat from a peer at `seq`, with the given member and declaration digests. */
export const beat = (seq: number, members: string, decls = 'd0', wall = 0): Heartbeat => ({
  incarnation: 1,
  seq,
  members,
  decls,
  wall,
})

/** The daemon's clock guard, with its default bound, on a stepped clock. */
export const clockGuardOf = (clock: SteppedClock) =>
  new ClockGuard(
    { maxOffsetMs: DEFAULT_MAX_CLOCK_OFFSET_MS },
    { logger: pino({ level: 'silent' }), wallNow: () => clock.wallNow(), now: () => clock.now() },
  )

/** `peer` connects: the agent hears of it, and the peer's state is pulled and answered. */
export function connect(rig: MembershipRig, peer: string, members = rig.agent.table.liveDigest(peer)): void {
  rig.port.links.add(peer)
  rig.agent.connected(peer, true)
  rig.agent.heartbeatReceived(peer, beat(1, members))
  const pull = rig.port.of('pull state', peer).at(-1)
  if (pull !== undefined) rig.port.answer(pull, stateOf(peer))
}

export function declarationsRig(self = 'self') {
  const port = new FakePort()
  const clock = new SteppedClock()
  const agent = new DeclarationsAgent({
    port,
    store: new DeclStore(),
    clock,
    clockGuard: clockGuardOf(clock),
    logger: pino({ level: 'silent' }),
    self,
  })
  return { agent, port, clock }
}
