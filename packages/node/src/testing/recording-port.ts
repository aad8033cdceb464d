import type { MemberNote } from '@gary/protocol'
import { type Logger, pino } from 'pino'
import type { DeclarationsPort } from '../declarations/agent.js'
import type { MembershipPort } from '../membership/port.js'

/** A node's two ports, as the daemon's and the simulator's processes each have them. */
export type AgentPorts = MembershipPort & DeclarationsPort

/**
 * `port`, with every message its agents send written down by `record` in one line each: a test
 * that runs a scenario over two transports compares what the agents did over each.
 */
export function recording<P extends AgentPorts>(port: P, record: (what: string) => void): AgentPorts {
  return {
    connections: () => port.connections(),
    sendHeartbeats: (beatFor, to) =>
      port.sendHeartbeats((peer) => {
        const beat = beatFor(peer)
        record(
          `heartbeat ${peer} ${beat.incarnation}.${beat.seq} ${beat.members} ${beat.decls}${beat.ask === true ? ' ask' : ''}`,
        )
        return beat
      }, to),
    publishState: (topic, state, done) => {
      record(`publish state ${topic} ${state.incarnation}.${state.seq}`)
      port.publishState(topic, state, done)
    },
    publishNote: (topic, note, done) => {
      record(`publish note ${topic} ${noteText(note)}`)
      port.publishNote(topic, note, done)
    },
    pullState: (peer, addrs, timeoutMs, done) => {
      record(`pull state ${peer}${addrs === undefined ? '' : ' by address'}`)
      port.pullState(peer, addrs, timeoutMs, done)
    },
    syncMembers: (peer, versions, timeoutMs, done) => {
      record(`sync members ${peer} ${versions.map((v) => `${v.node}@${v.incarnation}.${v.seq}`).join(',')}`)
      port.syncMembers(peer, versions, timeoutMs, done)
    },
    askPeers: (peer, timeoutMs, done) => {
      record(`ask peers ${peer}`)
      port.askPeers(peer, timeoutMs, done)
    },
    tell: (peer, note, timeoutMs, done) => {
      record(`tell ${peer} ${noteText(note)}`)
      port.tell(peer, note, timeoutMs, done)
    },
    dial: (target, timeoutMs, done) => {
      const dialling = port.dial(target, timeoutMs, done)
      record(
        `dial ${target.kind === 'join' ? `join ${target.addr}` : target.id}${dialling ? '' : ': nothing to dial'}`,
      )
      return dialling
    },
    hangUp: (peer) => {
      record(`hang up ${peer}`)
      port.hangUp(peer)
    },
    knock: (peer, addrs, timeoutMs, done) => {
      record(`knock ${peer}`)
      port.knock(peer, addrs, timeoutMs, done)
    },
    publish: (entries, done) => {
      record(`publish declarations ${entries.map((entry) => entry.name).join(',')}`)
      port.publish(entries, done)
    },
    pull: (peer, timeoutMs, done) => {
      record(`pull declarations ${peer}`)
      port.pull(peer, timeoutMs, done)
    },
    changed: () => port.changed(),
  }
}

const noteText = (note: MemberNote) =>
  `${note.kind} ${note.node} ${note.incarnation}.${note.seq}${note.unreachable === true ? ' unreachable' : ''}`

/**
 * A logger that writes down what the agents decide (their info lines: joins, suspects, deaths,
 * reports, refutations, merges), one line each with its fields in order.
 */
export function recordingLogger(record: (what: string) => void): Logger {
  return pino(
    { level: 'info', base: undefined, timestamp: false },
    {
      write: (line: string) => {
        const { msg, level: _level, ...fields } = JSON.parse(line) as Record<string, unknown>
        const detail = Object.keys(fields)
          .sort()
          .map((key) => `${key}=${JSON.stringify(fields[key])}`)
        record([msg, ...detail].join(' '))
      },
    },
  )
}
