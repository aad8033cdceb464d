import {
  DEFAULT_MAX_CLOCK_OFFSET_MS,
  DeclStore,
  type Heartbeat,
  type MemberNote,
  type MemberVersions,
  type NodeState,
  type Workload,
} from '@gary/protocol'
import { type Logger, pino } from 'pino'
import { ClockGuard } from '../clock/clock-guard.js'
import { DeclarationsAgent } from '../declarations/agent.js'
import { MembershipAgent } from '../membership/agent.js'
import type { MembershipInit } from '../membership/context.js'
import type { Connections, DialTarget } from '../membership/port.js'
import { SelfState } from '../membership/self-state.js'
import { membershipTopics } from '../membership/topics.js'
import type { Reply, Result } from '../port.js'
import { MEMBERSHIP_DEFAULTS } from '../timing.js'
import { type AgentPorts, recording, recordingLogger } from './recording-port.js'
import { SteppedClock } from './stepped-clock.js'

/** One thing an agent did, or that happened to it, at a virtual time: what the drift test compares. */
export interface AgentEvent {
  at: number
  node: string
  what: string
}

export interface AgentNetInit {
  /** One-way latency of each link, ms. */
  latency: (from: string, to: string) => number
  /** Each node's agents' random source. */
  random: (node: string) => () => number
  /** Ring shards. Default 1. */
  shards?: number
  /** Per node, what its agents did (outbound port calls) and decided (their logs). */
  record?: (event: AgentEvent) => void
}

/** One process of the in-memory network: its agents, live from a start to a crash. */
export class AgentNode {
  up = false
  /** Down with its machine: nothing answers, not even a refusal. */
  vanished = false
  incarnation = 0
  self!: SelfState
  membership!: MembershipAgent
  declarations!: DeclarationsAgent
  /** Kept across restarts, as the daemon's data dir keeps it. */
  readonly store = new DeclStore()
  readonly links = new Set<string>()

  constructor(readonly id: string) {}
}

/**
 * An in-memory network of membership and declarations agents on a stepped clock, with the
 * semantics of the daemon's libp2p port (`membership.ts`, `declarations.ts`): a connection opens
 * after a round trip and both ends hear of it; each end learns of a close when the close reaches
 * it; gossip reaches a topic's subscribers when some are connected; requests are answered by the
 * peer's agent, refused by a process that is down, and fail at their timeout when lost. Written
 * apart from the simulator's port, so that a scenario run through both shows any drift.
 */
export class AgentNet {
  readonly clock = new SteppedClock()
  readonly nodes = new Map<string, AgentNode>()
  readonly #groups = new Map<string, number>()
  readonly #cut = new Set<string>()
  readonly #subscribers = new Map<string, Set<string>>()

  constructor(private readonly init: AgentNetInit) {}

  add(id: string): AgentNode {
    const node = new AgentNode(id)
    this.nodes.set(id, node)
    const topics = membershipTopics(CLUSTER, id, this.init.shards ?? 1)
    for (const topic of [...topics.states, ...topics.notes]) {
      const set = this.#subscribers.get(topic) ?? new Set()
      set.add(id)
      this.#subscribers.set(topic, set)
    }
    return node
  }

  /** Starts (or restarts) a node's process, joining through `join`. */
  start(id: string, join: string[]): void {
    const node = this.#node(id)
    node.up = true
    node.vanished = false
    node.incarnation++
    const port = this.#port(node, node.incarnation)
    const logger = this.#logger(id)
    node.self = new SelfState(id, node.incarnation, {
      addrs: [],
      labels: {},
      capacity: { cpuMillis: 4000, memoryBytes: 8 * 2 ** 30 },
      draining: false,
      promises: [],
      refusals: [],
    })
    const clockGuard = new ClockGuard(
      { maxOffsetMs: DEFAULT_MAX_CLOCK_OFFSET_MS },
      { logger, wallNow: () => this.clock.wallNow(), now: () => this.clock.now() },
    )
    node.declarations = new DeclarationsAgent({
      port,
      store: node.store,
      clock: this.clock,
      clockGuard,
      logger,
      self: id,
    })
    node.declarations.restored()
    const declarations = node.declarations
    const init: MembershipInit = {
      cluster: CLUSTER,
      join,
      ...MEMBERSHIP_DEFAULTS,
      promiseShards: this.init.shards ?? 1,
    }
    node.membership = new MembershipAgent(init, {
      port,
      clock: this.clock,
      clockGuard,
      random: this.init.random(id),
      logger,
      self: node.self,
      declsDigest: () => declarations.digest,
      onHeartbeat: (peer, digest, now) => declarations.check(peer, digest, now),
    })
    node.membership.start()
  }

  /**
   * The process dies: its connections reset at each peer the reset reaches. With `silent`, its
   * machine goes with it (powered off, cable cut): nothing is sent, and dials and requests to it
   * time out.
   */
  crash(id: string, options: { silent?: boolean } = {}): void {
    const node = this.#node(id)
    if (!node.up) return
    node.up = false
    node.vanished = options.silent === true
    node.membership.stop()
    if (!node.vanished) for (const peer of node.links) this.#closeReaches(node, this.#node(peer))
    node.links.clear()
  }

  /** `gary apply` on a node: versioned, kept, spread. */
  apply(id: string, workloads: Workload[]): void {
    const node = this.#node(id)
    const entries = workloads.map((workload) => ({
      name: workload.name,
      version: node.declarations.nextVersion(),
      deleted: false,
      workload,
    }))
    for (const entry of entries) node.store.merge(entry)
    node.declarations.spread(entries)
  }

  partition(groups: string[][]): void {
    this.#groups.clear()
    groups.forEach((group, i) => {
      for (const id of group) this.#groups.set(id, i)
    })
  }

  heal(): void {
    this.#groups.clear()
  }

  /** Cuts or restores one link: messages on it are lost, either way. */
  setLink(a: string, b: string, up: boolean): void {
    const key = a < b ? `${a} ${b}` : `${b} ${a}`
    if (up) this.#cut.delete(key)
    else this.#cut.add(key)
  }

  reachable(a: string, b: string): boolean {
    if ((this.#groups.get(a) ?? 0) !== (this.#groups.get(b) ?? 0)) return false
    return !this.#cut.has(a < b ? `${a} ${b}` : `${b} ${a}`)
  }

  /** Sends one message: lost if the link is down when it leaves or when it arrives. */
  #send(from: string, to: string, deliver: () => void): void {
    if (!this.reachable(from, to)) return
    this.clock.at(this.clock.now() + this.init.latency(from, to), () => {
      if (this.reachable(from, to)) deliver()
    })
  }

  #closeReaches(from: AgentNode, to: AgentNode): void {
    if (!this.reachable(from.id, to.id)) return
    this.clock.at(this.clock.now() + this.init.latency(from.id, to.id), () => {
      if (!to.links.has(from.id) || from.links.has(to.id) || !this.reachable(from.id, to.id)) return
      to.links.delete(from.id)
      if (to.up) to.membership.disconnected(from.id)
    })
  }

  #node(id: string): AgentNode {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  #record(node: string, what: string): void {
    this.init.record?.({ at: this.clock.now(), node, what })
  }

  #logger(id: string): Logger {
    if (this.init.record === undefined) return pino({ level: 'silent' })
    return recordingLogger((what) => this.#record(id, what))
  }

  #port(node: AgentNode, incarnation: number): AgentPorts {
    const live = () => node.up && node.incarnation === incarnation
    const later = (fn: () => void) =>
      this.clock.at(this.clock.now(), () => {
        if (live()) fn()
      })
    const ending = <T>(timeoutMs: number, done: Reply<T>): Reply<T> => {
      let open = true
      const end = (result: Result<T>) => {
        if (!open) return
        open = false
        timer.cancelled = true
        if (live()) done(result)
      }
      const timer = this.clock.at(this.clock.now() + timeoutMs, () => end({ ok: false, reason: 'timed out' }))
      return end
    }
    const request = <T>(to: string, timeoutMs: number, done: Reply<T>, answer: (peer: AgentNode) => T) => {
      const end = ending(timeoutMs, done)
      const peer = this.nodes.get(to)
      if (peer === undefined) return
      this.#send(node.id, to, () => {
        if (peer.vanished) return
        if (!peer.up) {
          this.clock.at(this.clock.now() + this.init.latency(to, node.id), () =>
            end({ ok: false, reason: 'refused' }),
          )
          return
        }
        const value = answer(peer)
        this.#send(to, node.id, () => end({ ok: true, value }))
      })
    }
    const publish = (topic: string | 'all', deliver: (peer: AgentNode) => unknown, done: Reply<number>) => {
      const subscribers = topic === 'all' ? undefined : (this.#subscribers.get(topic) ?? new Set<string>())
      let recipients = 0
      for (const peer of node.links) if (subscribers === undefined || subscribers.has(peer)) recipients++
      if (recipients > 0)
        for (const peer of subscribers ?? this.nodes.keys())
          if (peer !== node.id) {
            const to = this.#node(peer)
            this.#send(node.id, peer, () => {
              if (to.up) deliver(to)
            })
          }
      later(() => done({ ok: true, value: recipients }))
    }
    const connections: Connections = {
      get size() {
        return node.links.size
      },
      has: (peer) => node.links.has(peer),
      [Symbol.iterator]: () => node.links.values(),
    }
    const port: AgentPorts = {
      connections: () => connections,
      sendHeartbeats: (beatFor: (peer: string) => Heartbeat, to?: string) => {
        for (const peer of to === undefined ? [...node.links] : node.links.has(to) ? [to] : []) {
          const beat = beatFor(peer)
          const receiver = this.#node(peer)
          this.#send(node.id, peer, () => {
            if (receiver.up && receiver.links.has(node.id))
              receiver.membership.heartbeatReceived(node.id, beat)
          })
        }
      },
      publishState: (topic: string, state: NodeState, done: Reply<number>) => {
        publish(topic, (peer) => peer.membership.stateGossiped(node.id, state), done)
      },
      publishNote: (topic: string, note: MemberNote, done: Reply<number>) => {
        publish(topic, (peer) => peer.membership.noteGossiped(node.id, note), done)
      },
      pullState: (
        peer: string,
        _addrs: readonly string[] | undefined,
        timeoutMs: number,
        done: Reply<NodeState>,
      ) => {
        request(peer, timeoutMs, done, (at) => at.membership.ownState())
      },
      syncMembers: (peer: string, versions: MemberVersions, timeoutMs: number, done: Reply<NodeState[]>) => {
        request(peer, timeoutMs, done, (at) => at.membership.memberSyncAsked(node.id, versions))
      },
      askPeers: (peer: string, timeoutMs: number, done) => {
        request(peer, timeoutMs, done, (at) => at.membership.peerHintsAsked(node.id))
      },
      tell: (peer: string, note: MemberNote, timeoutMs: number, done: Reply<void>) => {
        const end = ending(timeoutMs, done)
        const to = this.nodes.get(peer)
        if (to === undefined) return
        this.#send(node.id, peer, () => {
          if (!to.up) return
          to.membership.noteTold(node.id, note)
          end({ ok: true, value: undefined })
        })
      },
      dial: (target: DialTarget, timeoutMs: number, done: Reply<string>) => {
        const id = target.kind === 'join' ? target.addr : target.id
        const peer = this.nodes.get(id)
        if (peer === undefined || peer === node) return false
        if (node.links.has(id)) {
          later(() => done({ ok: true, value: id }))
          return true
        }
        const end = ending(timeoutMs, done)
        const reached = this.reachable(node.id, id)
        const rtt = this.init.latency(node.id, id) + this.init.latency(id, node.id)
        this.clock.at(this.clock.now() + rtt, () => {
          if (!live()) return
          if (!reached || !this.reachable(node.id, id)) end({ ok: false, reason: 'unreachable' })
          // A machine gone answers nothing: the dial ends at its timeout.
          else if (peer.vanished) return
          else if (!peer.up) end({ ok: false, reason: 'refused' })
          else {
            if (!node.links.has(id)) {
              node.links.add(id)
              peer.links.add(node.id)
              node.membership.connected(id, true)
              peer.membership.connected(node.id, false)
            }
            end({ ok: true, value: id })
          }
        })
        return true
      },
      // The machine's kernel answers, whatever the process does; a process that is down refuses.
      knock: (peer: string, _addrs: readonly string[], timeoutMs: number, done: Reply<void>) => {
        request(peer, timeoutMs, done, () => undefined)
      },
      hangUp: (peer: string) => {
        if (!node.links.has(peer)) return
        node.links.delete(peer)
        later(() => node.membership.disconnected(peer))
        this.#closeReaches(node, this.#node(peer))
      },
      publish: (entries, done) => {
        publish('all', (peer) => peer.declarations.gossiped(node.id, entries), done)
      },
      pull: (peer, timeoutMs, done) => {
        request(peer, timeoutMs, done, (at) => at.declarations.answer())
      },
      changed: () => {},
    }
    return this.init.record === undefined ? port : recording(port, (what) => this.#record(node.id, what))
  }
}

/** The cluster's name, in topic names: the simulator's. */
const CLUSTER = 'sim'
