import type { Logger } from '../logger.js'

/**
 * Why a message from a peer was refused, one stable code per check (as Lodestar names its gossip
 * validation errors): the daemon logs each refusal at debug with its code and counts it per code,
 * and tests assert codes, not sentences.
 */
export const Rejection = {
  /** A gossiped NodeState that does not decode (or breaks the codec's bounds). */
  StateMalformed: 'state_malformed',
  /** A gossiped NodeState signed by a node other than the one it describes. */
  StateSignedByAnother: 'state_signed_by_another',
  /** A heartbeat frame that does not decode: the stream is dropped. */
  HeartbeatMalformed: 'heartbeat_malformed',
  /** A gossiped member note that does not decode. */
  NoteMalformed: 'note_malformed',
  /** A beacon (`alive` note) signed by a node other than the one it speaks for. */
  BeaconSignedByAnother: 'beacon_signed_by_another',
  /** A note told over a stream that does not decode. */
  ToldNoteMalformed: 'told_note_malformed',
  /** A note told over a stream about a node other than this one. */
  ToldNoteAboutAnother: 'told_note_about_another',
  /** A member sync request that does not decode. */
  MemberSyncRequestMalformed: 'member_sync_request_malformed',
  /** A pulled state that describes another node than the one asked. */
  PulledStateOfAnother: 'pulled_state_of_another',
  /** Gossiped declarations that do not decode. */
  DeclarationsMalformed: 'declarations_malformed',
  /** Gossiped declarations with a write whose origin is not the signer. */
  DeclarationsUnderAnotherName: 'declarations_under_another_name',
  /** A declaration set pulled from a peer that does not decode. */
  DeclarationSetMalformed: 'declaration_set_malformed',
  /** A declaration stamped further ahead of this node's clock than the bound. */
  TimestampAhead: 'timestamp_ahead',
  /** A declaration written by a banned member (`@ban/<peer>`). */
  DeclarationByBanned: 'declaration_by_banned',
  /** A member's write that lifts its own ban. */
  OwnBanLifted: 'own_ban_lifted',
} as const

export type RejectionCode = (typeof Rejection)[keyof typeof Rejection]

/** The refusals of one node: logged at debug with their code, and counted per code. */
export class Rejections {
  readonly #counts = new Map<RejectionCode, number>()

  constructor(private readonly logger: Pick<Logger, 'debug'>) {}

  /** Refuses one message: `fields` say whose and what (never the raw payload). */
  refuse(code: RejectionCode, fields: Record<string, unknown> = {}): void {
    this.#counts.set(code, (this.#counts.get(code) ?? 0) + 1)
    this.logger.debug({ ...fields, code }, 'refused a message')
  }

  count(code: RejectionCode): number {
    return this.#counts.get(code) ?? 0
  }

  /** Every code refused so far, with its count (for metrics). */
  counts(): Partial<Record<RejectionCode, number>> {
    return Object.fromEntries(this.#counts)
  }
}
