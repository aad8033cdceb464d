import { type Member, type MemberNote, noteRefusal } from '@gary/protocol'
import { Rejection } from '../net/rejections.js'
import type { Verdict } from '../port.js'
import { PROBE_TIMEOUT_MS, REFUTE_EVERY_MS, REPORT_JITTER_MS, TELL_TIMEOUT_MS } from '../timing.js'
import type { MembershipContext } from './context.js'
import { dialRefused, memberTarget } from './port.js'

export interface LivenessHooks {
  /** A member announced a newer state than the one held. */
  announced(member: string): void
  /** This node was reported dead while up: every member that keeps it must hear a newer state. */
  refuted(): void
  /** A member turned dead here (not one that left). */
  died(member: string): void
  /**
   * Whether this node's own timers fire on time (Lifeguard's local health): a node that lags
   * accuses nobody, since the silence or the failed redial it sees may be its own slowness.
   */
  onTime(): boolean
}

/**
 * Who is alive (docs/design.md, "Relayed liveness"): members' statuses judged by the age of the
 * evidence, witnesses' `down` reports, the refutation of a report about this node, the `alive`
 * beacon, and the one redial of a peer whose last connection closed.
 */
export class Liveness {
  #lastRefutedAt = Number.NEGATIVE_INFINITY
  /** A refutation is due at the end of the current second (`#refuteLater`). */
  #refutePending = false
  /** The newest seq of this node named by a report not yet refuted. */
  #owedSeq: number | undefined

  constructor(
    private readonly ctx: MembershipContext,
    private readonly hooks: LivenessHooks,
  ) {}

  /** Applies the passage of time to the table; after evidence of one member, to that one only. */
  sweep(only?: string): void {
    const { table, scope, logger } = this.ctx
    if (this.ctx.stopped) return
    const changes = table.sweep(this.ctx.now(), only)
    if (changes.length === 0) return
    if (changes.some((change) => scope.replans(change.id))) this.ctx.changed()
    for (const change of changes) {
      const fields = { member: change.id, name: this.ctx.name(change.id), from: change.from }
      if (change.to === 'dead' && table.get(change.id)?.left === true) {
        // It said so itself: no witness need report it, and its slots were handed over.
        logger.info(fields, 'member left')
        this.ctx.record({ kind: 'left', member: change.id })
        this.ctx.port.hangUp(change.id)
        continue
      }
      if (change.to === 'dead') {
        logger.info(fields, 'member dead')
        this.#witnessed(change.id)
        this.hooks.died(change.id)
      } else if (change.to === 'suspect') logger.info(fields, 'member suspect')
      else if (change.from === 'dead') logger.info(fields, 'member back')
      else logger.info(fields, 'member alive again')
      const kind = change.to === 'alive' ? 'back' : change.to
      this.ctx.record({
        kind,
        member: change.id,
        ...(kind === 'back' ? { reason: `was ${change.from}` } : {}),
      })
    }
  }

  /**
   * A member held dead talks to this node again (a healed partition, a hung process resumed): the
   * others may hold it dead too, so it is told, and refutes with a newer state they all hear.
   */
  heardFromDead(member: Readonly<Member>): void {
    this.#tell(member.id, { kind: 'down', node: member.id, ...member.announced })
  }

  /**
   * This node, a witness, heard a member that beat it fast fall silent (`FastWatch`): it counts
   * itself as one witness and tells every member; a second witness's report makes the member dead.
   */
  accuse(id: string): void {
    const { table, logger, selfId } = this.ctx
    const member = table.get(id)
    if (this.ctx.stopped || member === undefined || member.status === 'dead') return
    const now = this.ctx.now()
    const outcome = table.observeDown(id, member.announced, selfId, now)
    logger.info(
      { member: id, silentMs: now - (member.lastDirectAt ?? now), outcome },
      'member silent: accusing',
    )
    this.#publishNote({ kind: 'down', node: id, ...member.announced })
    if (outcome === 'marked') this.sweep(id)
  }

  /** The small proof that this node is up, for members that do not hear its heartbeats. */
  beacon(): void {
    const { incarnation, seq } = this.ctx.self.current
    this.#publishNote({ kind: 'alive', node: this.ctx.selfId, incarnation, seq })
  }

  /** A member note gossiped by `signer`. */
  noteGossiped(signer: string, note: MemberNote): Verdict {
    const refused = noteRefusal(signer, note)
    if (refused !== undefined) {
      this.ctx.rejections.refuse(Rejection.BeaconSignedByAnother, { from: signer, claims: note.node })
      return 'reject'
    }
    if (note.kind === 'left') return this.#onLeft(note)
    return note.kind === 'alive' ? this.#onBeacon(note) : this.#onDown(note, signer)
  }

  /** A member's own word that it leaves (its signature checked): dead here at once. */
  #onLeft(note: MemberNote): Verdict {
    const outcome = this.ctx.table.observeLeft(note.node, note, this.ctx.now())
    if (outcome !== 'marked') return 'ignore'
    this.sweep(note.node)
    return 'accept'
  }

  /** A note told by `peer` directly: only a `down` note about this node is one to tell. */
  noteTold(peer: string, note: MemberNote): boolean {
    if (note.kind !== 'down' || note.node !== this.ctx.selfId) {
      this.ctx.rejections.refuse(Rejection.ToldNoteAboutAnother, { peer, about: note.node })
      return false
    }
    this.#onDown(note, peer)
    return true
  }

  /**
   * A peer's last connection closed. If it cannot be dialled again at once, its process is gone
   * (refused) or unreachable: that is evidence of death well before its heartbeats age out, and
   * this node, a witness, reports it to every member.
   */
  probe(id: string): void {
    const { table, port, logger } = this.ctx
    const member = table.get(id)
    if (this.ctx.stopped || member === undefined || member.status === 'dead') return
    const startedAt = this.ctx.now()
    const unreachable = (reason: string) => {
      if (this.ctx.stopped || port.connections().has(id)) return
      // A refused redial is proof (the process is gone); one that timed out on a node whose own
      // loop lags says nothing of the member: at a cold start on few cores, such verdicts, each
      // believed alone, made every node hang up on every other in turn. It is tried again once
      // the probe's time is over: unconnected, the member is judged by relayed liveness alone,
      // and when no witness is left to report it (a node cut off from all of them) it would stay
      // alive until its beacon is overdue, minutes.
      if (!dialRefused(reason) && !this.hooks.onTime()) {
        logger.debug({ member: id, err: reason }, 'redial failed while this node lags: no verdict yet')
        this.ctx.after(PROBE_TIMEOUT_MS, () => this.probe(id))
        return
      }
      logger.debug({ member: id, err: reason }, 'member unreachable after disconnect')
      table.markUnreachable(id, startedAt)
      this.sweep(id)
      this.#reportDown(member, true)
    }
    const dialling = port.dial(memberTarget(member), PROBE_TIMEOUT_MS, (result) => {
      if (!result.ok) unreachable(result.reason)
    })
    if (!dialling) unreachable('no address to dial')
  }

  #onBeacon(note: MemberNote): Verdict {
    const outcome = this.ctx.table.observeBeacon(note.node, note, this.ctx.now())
    if (outcome === 'stale' || outcome === 'self') return 'ignore'
    if (outcome === 'needs-state') this.hooks.announced(note.node)
    this.sweep(note.node)
    return 'accept'
  }

  /** A witness's report, forwarded even when this node contradicts it: others judge for themselves. */
  #onDown(note: MemberNote, witness: string): Verdict {
    const now = this.ctx.now()
    const outcome = this.ctx.table.observeDown(note.node, note, witness, now, note.unreachable === true)
    if (outcome === 'stale') return 'ignore'
    if (outcome === 'contradicted')
      // Counted once this node's last heartbeat from the member is as old as the witness's silence.
      this.ctx.logger.info(
        { member: note.node, name: this.ctx.name(note.node), witness, witnessName: this.ctx.name(witness) },
        'member reported down: held back by its last heartbeat',
      )
    else if (outcome === 'marked') {
      this.ctx.logger.info(
        { member: note.node, name: this.ctx.name(note.node), witness, witnessName: this.ctx.name(witness) },
        'member reported down',
      )
      this.sweep(note.node)
    } else if (outcome === 'noted')
      this.ctx.logger.debug(
        { member: note.node, witness, witnessName: this.ctx.name(witness) },
        'member reported down: one witness so far',
      )
    else if (outcome === 'self') {
      if (note.incarnation !== this.ctx.self.current.incarnation) return 'ignore'
      this.#refute(witness, now, note.seq)
    }
    return 'accept'
  }

  /**
   * Reported dead while up: a newer state proves otherwise to every member that hears it. At most
   * once a second; a report about the current version that comes sooner is refuted when the
   * second is up (`#refuteLater`), not dropped.
   */
  #refute(witness: string, now: number, seq: number): void {
    if (now - this.#lastRefutedAt < REFUTE_EVERY_MS) {
      this.#refuteLater(witness, now, seq)
      return
    }
    this.#lastRefutedAt = now
    this.ctx.self.refresh()
    this.ctx.logger.info({ witness, witnessName: this.ctx.name(witness) }, 'reported down while up: refuting')
    this.hooks.refuted()
  }

  /**
   * A report within a second of the last refutation: every member that keeps this node holds it
   * until a newer version outweighs it, and a second witness's report of another moment's silence
   * within the witness window makes two (`WITNESS_WINDOW_MS`). Dropped, such a report stood for
   * the whole window: under 30 % loss, lone fast-detection blips on different links of one
   * member, seconds apart, paired into false deaths (lossy at 200 simulated nodes: a member
   * dead everywhere, slots moved, a report dropped 348 ms after a refutation paired with another
   * 2.2 s later). Refuted once the second is up, unless a newer state went out since.
   */
  #refuteLater(witness: string, now: number, seq: number): void {
    this.#owedSeq = Math.max(this.#owedSeq ?? seq, seq)
    if (this.#refutePending) return
    this.#refutePending = true
    this.ctx.after(this.#lastRefutedAt + REFUTE_EVERY_MS - now, () => {
      this.#refutePending = false
      const owed = this.#owedSeq
      this.#owedSeq = undefined
      if (this.ctx.stopped || owed === undefined || this.ctx.self.current.seq > owed) return
      this.#refute(witness, this.ctx.now(), owed)
    })
  }

  /**
   * A member turned dead. If it was connected (its heartbeats stopped), this node is a witness: it
   * tells every member, and marks it unreachable so that it stays dead here once no longer
   * connected. Either way it hangs up: a half-open connection to a silent member would stop
   * redials from ever reaching it again.
   */
  #witnessed(id: string): void {
    const member = this.ctx.table.get(id)
    // A node that lags heard its peers late: it does not report (Lifeguard), the member's own
    // watchers do if it is gone.
    if (member?.direct === true && this.hooks.onTime()) {
      this.#reportDown(member)
      this.ctx.table.markUnreachable(id, this.ctx.now())
    }
    this.ctx.port.hangUp(id)
  }

  /**
   * Tells every member that this node, a witness, found `member` dead at its announced version
   * (`unreachable` when its connection closed and the redial failed). After a random delay of up
   * to REPORT_JITTER_MS, and only if no other witness's report has made it dead here meanwhile.
   */
  #reportDown(member: Readonly<Member>, unreachable = false): void {
    const id = member.id
    this.ctx.after(this.ctx.random() * REPORT_JITTER_MS, () => {
      const current = this.ctx.table.get(id)
      if (current === undefined || current.confirmed === true) return
      this.#publishNote({
        kind: 'down',
        node: id,
        ...current.announced,
        ...(unreachable ? { unreachable } : {}),
      })
    })
  }

  /**
   * Gossips a note to every member that keeps the member it is about: with partial membership,
   * to that member's shard's notes topic.
   */
  #publishNote(note: MemberNote): void {
    if (this.ctx.stopped) return
    this.ctx.port.publishNote(this.ctx.topics.noteTopicOf(note.node), note, (result) => {
      if (!result.ok) this.ctx.logger.debug({ note, err: result.reason }, 'note publish failed')
    })
  }

  /**
   * Tells a connected member a note about itself, over a stream of its own rather than gossip: a
   * `down` note flooded to every member each time a node heard a member it held dead was most of
   * the notes of a healed partition (4,277 of 8,600 floods at 1000 simulated nodes), and the
   * member's refutation is what reaches every node.
   */
  #tell(peer: string, note: MemberNote): void {
    if (this.ctx.stopped) return
    this.ctx.port.tell(peer, note, TELL_TIMEOUT_MS, (result) => {
      if (!result.ok) this.ctx.logger.debug({ peer, note, err: result.reason }, 'telling failed')
    })
  }
}
