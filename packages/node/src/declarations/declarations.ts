import {
  appliedEntry,
  DEFAULT_TOMBSTONE_KEEP_MS,
  type DeclEntry,
  DeclStore,
  type DeclVersion,
  decodeDeclEntries,
  encodeDeclEntries,
  MAX_DECL_MESSAGE_BYTES,
  type MemberMark,
  markName,
  revisionOf,
  type Workload,
} from '@gary/protocol'
import type { Libp2p, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from 'it-length-prefixed-stream'
import type { ClockGuard } from '../clock/clock-guard.js'
import type { Logger } from '../logger.js'
import type { Gossip, Verdict } from '../net/gossip.js'
import { clusterNames } from '../net/names.js'
import { Rejection, type Rejections } from '../net/rejections.js'
import type { Reply } from '../port.js'
import { DeclarationsAgent, type DeclarationsPort } from './agent.js'
import { StoreFile } from './store-file.js'

export interface DeclarationsInit {
  cluster: string
  dataDir: string
  /** Tombstones are kept this long, to outlive partitions. Default 7 days. */
  tombstoneKeepMs?: number
  /** Test hook: drop this many declaration gossip messages on arrival, to prove anti-entropy heals. */
  dropGossip?: number
}

export interface DeclarationsComponents {
  libp2p: Libp2p
  gossip: Gossip
  logger: Logger
  /** This node's peer id: the origin of the versions it writes. */
  self: string
  wallNow: () => number
  /** Receives the entries' timestamps, refusing those too far ahead of this node's clock. */
  clock: Pick<ClockGuard, 'receive'>
  /** The declarations changed. */
  onChange?: () => void
  /** Where refused messages are logged and counted. */
  rejections?: Rejections
}

/** How long remote writes wait to be saved together, ms. */
const BACKGROUND_SAVE_MS = 200

export type ApplyOutcome = 'created' | 'updated' | 'unchanged'
export type RemoveOutcome = 'deleted' | 'not found'

/**
 * The cluster's declarations on this node: a CRDT store that any node may write to, spread by
 * gossip as writes happen, healed by pulling a peer's whole set when its digest differs, and kept
 * in the data dir so a restarted node comes back with what it knew.
 */
export class Declarations {
  readonly store = new DeclStore()
  readonly agent: DeclarationsAgent
  readonly topic: string
  readonly syncProtocol: string
  #dropGossip: number
  readonly #file: StoreFile
  #saveSoon?: NodeJS.Timeout

  constructor(
    private readonly init: DeclarationsInit,
    private readonly components: DeclarationsComponents,
  ) {
    const names = clusterNames(init.cluster)
    this.topic = names.topics.declarations
    this.syncProtocol = names.protocols.declarationSync
    this.#dropGossip = init.dropGossip ?? 0
    this.#file = new StoreFile(init.dataDir, {
      logger: components.logger,
      store: () => this.store,
      durable: (entries) => {
        for (const entry of entries) this.store.merge(entry)
      },
      wallNow: components.wallNow,
    })
    this.agent = new DeclarationsAgent({
      port: this.#port(),
      store: this.store,
      clock: { wallNow: components.wallNow },
      clockGuard: components.clock,
      logger: components.logger,
      self: components.self,
      ...(components.rejections === undefined ? {} : { rejections: components.rejections }),
    })
  }

  get digest(): string {
    return this.store.digest()
  }

  async start(): Promise<void> {
    await this.#load()
    this.components.gossip.subscribe(this.topic, (signer, data) => this.#onGossip(signer, data))
    await this.components.libp2p.handle(this.syncProtocol, ({ stream }) => {
      void this.#serveSync(stream)
    })
  }

  async stop(): Promise<void> {
    await this.components.libp2p.unhandle(this.syncProtocol)
    if (this.#saveSoon !== undefined) await this.#saveNow()
    await this.#file.idle()
  }

  /**
   * Declares workloads; versions only the ones that change, and spreads them. Resolves once the
   * writes are on disk; rejects with DataDirWriteError, and then nothing of them was applied.
   */
  async apply(workloads: Workload[]): Promise<{ name: string; outcome: ApplyOutcome; revision?: number }[]> {
    const results: { name: string; outcome: ApplyOutcome; revision?: number }[] = []
    const written: DeclEntry[] = []
    for (const workload of workloads) {
      const current = this.store.get(workload.name)
      // Versioned only when it changes something: an unchanged apply writes nothing.
      const entry = appliedEntry(current, workload, this.#nextVersion())
      if (entry === undefined) {
        results.push({ name: workload.name, outcome: 'unchanged', revision: revisionOf(current!) })
        continue
      }
      written.push(entry)
      results.push({
        name: workload.name,
        outcome: current === undefined || current.deleted ? 'created' : 'updated',
        revision: entry.revision!,
      })
    }
    await this.#written(written)
    return results
  }

  /**
   * Writes, for each name, what `build` makes of its current entry (a scale, a restart, a
   * rollback: `revisions.ts`), stamped with a new version; durable as `apply` is. `build` returns
   * nothing to write nothing.
   */
  async update(
    names: string[],
    build: (current: DeclEntry | undefined, version: DeclVersion) => DeclEntry | undefined,
  ): Promise<DeclEntry[]> {
    const written: DeclEntry[] = []
    for (const name of names) {
      const entry = build(this.store.get(name), this.#nextVersion())
      if (entry !== undefined) written.push(entry)
    }
    await this.#written(written)
    return written
  }

  /**
   * Sets a mark on a member (`on`), or lifts it: a ban (every node then drops its connections and
   * ignores its promises and writes), a drain (the member hands its slots over). Durable as
   * `apply` is; false when nothing changes.
   */
  async mark(mark: MemberMark, node: string, on: boolean): Promise<boolean> {
    const name = markName(mark, node)
    const current = this.store.get(name)
    if ((current !== undefined && !current.deleted) === on) return false
    await this.#written([{ name, version: this.#nextVersion(), deleted: !on }])
    return true
  }

  /** Deletes workloads by name, leaving tombstones; durable as `apply` is. */
  async remove(names: string[]): Promise<{ name: string; outcome: RemoveOutcome }[]> {
    const results: { name: string; outcome: RemoveOutcome }[] = []
    const written: DeclEntry[] = []
    for (const name of names) {
      const current = this.store.get(name)
      // A member mark is lifted by `mark(mark, node, false)`, not removed as a workload.
      if (current?.workload === undefined) {
        results.push({ name, outcome: 'not found' })
        continue
      }
      const entry: DeclEntry = { name, version: this.#nextVersion(), deleted: true }
      written.push(entry)
      results.push({ name, outcome: 'deleted' })
    }
    await this.#written(written)
    return results
  }

  #port(): DeclarationsPort {
    return {
      publish: (entries, done) => {
        this.components.gossip.publish(this.topic, encodeDeclEntries(entries)).then(
          (recipients) => done({ ok: true, value: recipients }),
          (err: Error) => done({ ok: false, reason: err.message }),
        )
      },
      pull: (peer, timeoutMs, done) => void this.#pull(peer, timeoutMs, done),
      changed: () => this.#persist(),
    }
  }

  /** Reads a peer's whole set: anti-entropy after lost messages or a partition. */
  async #pull(peer: string, timeoutMs: number, done: Reply<DeclEntry[]>): Promise<void> {
    try {
      const stream = await this.components.libp2p.dialProtocol(peerIdFromString(peer), this.syncProtocol, {
        signal: AbortSignal.timeout(timeoutMs),
      })
      const lp = lpStream(stream, { maxDataLength: MAX_DECL_MESSAGE_BYTES })
      const bytes = await lp.read({ signal: AbortSignal.timeout(timeoutMs) })
      await stream.close()
      const decoded = decodeDeclEntries(bytes.subarray())
      if (!decoded.ok) {
        this.agent.rejections.refuse(Rejection.DeclarationSetMalformed, { peer, reason: decoded.reason })
        done({ ok: false, reason: decoded.reason })
        return
      }
      done({ ok: true, value: decoded.value })
    } catch (err) {
      done({ ok: false, reason: (err as Error).message })
    }
  }

  /** Forgets tombstones old enough that no partition can still hold the write they delete. */
  collectTombstones(): void {
    const removed = this.store.collectTombstones(
      this.components.wallNow(),
      this.init.tombstoneKeepMs ?? DEFAULT_TOMBSTONE_KEEP_MS,
    )
    if (removed.length > 0) {
      this.components.logger.info({ workloads: removed }, 'collected old tombstones')
      this.#persist()
    }
  }

  #nextVersion(): DeclVersion {
    return this.agent.nextVersion()
  }

  /** Makes local writes durable, then applies and spreads them: a write the disk refused goes nowhere. */
  async #written(entries: DeclEntry[]): Promise<void> {
    if (entries.length === 0) return
    await this.#file.save(entries)
    this.components.onChange?.()
    // Anti-entropy spreads it anyway if the publish fails: peers see our digest change and pull.
    this.agent.spread(entries)
  }

  #onGossip(signer: string, data: Uint8Array): Verdict {
    if (this.#dropGossip > 0) {
      this.#dropGossip--
      this.components.logger.info({ from: signer }, 'test hook: dropped a declaration message')
      return 'ignore'
    }
    const decoded = decodeDeclEntries(data)
    if (!decoded.ok) {
      this.agent.rejections.refuse(Rejection.DeclarationsMalformed, { from: signer, reason: decoded.reason })
      return 'reject'
    }
    return this.agent.gossiped(signer, decoded.value)
  }

  /**
   * Saves what peers sent, a moment later: their origin holds it durably and anti-entropy brings
   * it back, so a burst of remote writes costs one write, not one per message (200 applies on a
   * peer kept each receiver's disk busy flushing without pause).
   */
  #persist(): void {
    this.components.onChange?.()
    this.#saveSoon ??= setTimeout(() => void this.#saveNow(), BACKGROUND_SAVE_MS)
  }

  async #saveNow(): Promise<void> {
    clearTimeout(this.#saveSoon)
    this.#saveSoon = undefined
    await this.#file
      .save()
      .catch((err: Error) => this.components.logger.error({ err: err.message }, 'cannot save declarations'))
  }

  async #load(): Promise<void> {
    const { entries, repaired } = await this.#file.load()
    for (const entry of entries) this.store.merge(entry)
    this.agent.restored()
    if (repaired) await this.#file.save()
    this.components.logger.info({ workloads: this.store.live().length }, 'loaded declarations')
  }

  async #serveSync(stream: Stream): Promise<void> {
    try {
      await lpStream(stream).write(encodeDeclEntries(this.agent.answer()), {
        signal: AbortSignal.timeout(5000),
      })
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}
