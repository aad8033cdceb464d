import type { Heartbeat, Member, MemberNote, MemberVersions, NodeState, PeerHints } from '@gary/protocol'
import type { Reply } from '../port.js'

export type { Reply, Result } from '../port.js'

/** Whom to dial: a member at the addresses its state names, or a join address given by the user. */
export type DialTarget =
  | { kind: 'member'; id: string; addrs: readonly string[] }
  | { kind: 'join'; addr: string }

/** A member, dialled at the addresses its state names. */
export const memberTarget = (member: Readonly<Member>): DialTarget => ({
  kind: 'member',
  id: member.id,
  addrs: member.state?.addrs ?? [],
})

/**
 * What a failed dial's reason says (the daemon's libp2p errors, the simulator's and the tests'
 * answers): the member's port refused it (its process is gone), or it took too long (a machine
 * that does not answer, or a node too loaded to finish the handshake in time).
 */
export const dialRefused = (reason: string): boolean => /ECONNREFUSED|refused/.test(reason)
export const dialTimedOut = (reason: string): boolean => /timeout|timed out/i.test(reason)

/** The peers this node holds a connection to. */
export interface Connections {
  readonly size: number
  has(peer: string): boolean
  [Symbol.iterator](): Iterator<string>
}

/**
 * What the membership agent asks of the network. The daemon implements it over libp2p
 * (`membership.ts`), the simulator over its simulated network: both run the same agent. Messages
 * are decoded values; encoding, decoding and the byte limits are the transport's.
 */
export interface MembershipPort {
  connections(): Connections
  /** Sends a heartbeat to every connected peer, or to `to` alone, `beatFor` each. */
  sendHeartbeats(beatFor: (peer: string) => Heartbeat, to?: string): void
  /** Gossips this node's state on a topic; answers with the number of peers it went to (0 before the mesh forms). */
  publishState(topic: string, state: NodeState, done: Reply<number>): void
  publishNote(topic: string, note: MemberNote, done: Reply<number>): void
  /** Asks a member for its own state: over the connection to it, or at `addrs` when given (not connected). */
  pullState(
    peer: string,
    addrs: readonly string[] | undefined,
    timeoutMs: number,
    done: Reply<NodeState>,
  ): void
  /** Sends a connected peer the member versions this node holds; it answers with the states we miss. */
  syncMembers(peer: string, versions: MemberVersions, timeoutMs: number, done: Reply<NodeState[]>): void
  /** Asks a connected peer where the members it knows can be dialled. */
  askPeers(peer: string, timeoutMs: number, done: Reply<PeerHints>): void
  /** Tells a connected peer a note about itself, over a stream of its own. */
  tell(peer: string, note: MemberNote, timeoutMs: number, done: Reply<void>): void
  /**
   * Opens a connection; answers with the peer reached. False, and no reply: nothing to dial (no
   * address that parses).
   */
  dial(target: DialTarget, timeoutMs: number, done: Reply<string>): boolean
  /** Closes every connection to a peer. */
  hangUp(peer: string): void
  /**
   * Knocks at a member's machine: a bare TCP connection to one of `addrs` (its listening
   * addresses), closed at once. Answers ok when the machine's kernel accepted it, whatever the
   * member's process is doing; fails when nothing accepted within `timeoutMs` (a machine powered
   * off or cut off) or every address refused (the process is gone).
   */
  knock(peer: string, addrs: readonly string[], timeoutMs: number, done: Reply<void>): void
}
