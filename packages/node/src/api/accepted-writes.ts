import { type EventRecord, generationOf, type Workload } from '@gary/protocol'
import type { Declarations } from '../declarations/declarations.js'
import type { Logger } from '../logger.js'
import type { SecretKeeper } from '../secrets/keeper.js'

/** What the API may write to the cluster's declarations. */
export type DeclarationWrites = Pick<Declarations, 'apply' | 'remove' | 'store' | 'update'>
/** What the API may do with secrets and registry logins (never read a value). */
export type SecretWrites = Pick<
  SecretKeeper,
  'enabled' | 'put' | 'remove' | 'login' | 'logout' | 'list' | 'stamp'
>

export interface AcceptedWritesComponents {
  logger: Logger
  /** Records this node's event for a write it accepted. */
  record(event: EventRecord): void
}

/**
 * The cluster's declarations as the API writes them: this node accepts each write, so it logs it
 * and records it as its event. Each secret a workload reads is named at its current version, so a
 * later change of the secret rolls the workload.
 */
export function acceptedDeclarations(
  declarations: Declarations,
  stamp: (workload: Workload) => Workload,
  { logger, record }: AcceptedWritesComponents,
): DeclarationWrites {
  return {
    store: declarations.store,
    // Scale, restart and rollback through the API: each entry written is this node's to tell.
    update: async (names, build) => {
      const written = await declarations.update(names, build)
      for (const entry of written)
        record(
          entry.workload === undefined
            ? { kind: 'deleted', workload: entry.name }
            : { kind: 'declared', workload: entry.name, generation: generationOf(entry.workload) },
        )
      if (written.length > 0) logger.info({ workloads: written.map((e) => e.name) }, 'write accepted')
      return written
    },
    apply: async (given) => {
      const workloads = given.map(stamp)
      const results = await declarations.apply(workloads)
      const byName = new Map(workloads.map((w) => [w.name, w]))
      const changed = results.filter((r) => r.outcome !== 'unchanged')
      for (const { name } of changed)
        record({ kind: 'declared', workload: name, generation: generationOf(byName.get(name)!) })
      logger.info(
        { workloads: results.map((r) => `${r.name} ${r.outcome}`) },
        changed.length > 0 ? 'apply accepted' : 'apply accepted: nothing changed',
      )
      return results
    },
    remove: async (names) => {
      const results = await declarations.remove(names)
      for (const r of results) if (r.outcome === 'deleted') record({ kind: 'deleted', workload: r.name })
      logger.info({ workloads: results.map((r) => `${r.name} ${r.outcome}`) }, 'rm accepted')
      return results
    },
  }
}

/**
 * The cluster's secrets and registry logins as the API writes them: logged by name (never by
 * value), with the workloads a changed secret rolls recorded as declared again. A new login tries
 * again the pulls its registry refused.
 */
export function acceptedSecrets(
  keeper: SecretKeeper,
  declarations: DeclarationWrites,
  { logger, record, loggedIn }: AcceptedWritesComponents & { loggedIn(registry: string): Promise<void> },
): SecretWrites {
  return {
    enabled: keeper.enabled,
    stamp: (workload) => keeper.stamp(workload),
    list: (iso) => keeper.list(iso),
    put: async (name, value) => {
      const result = await keeper.put(name, value)
      logger.info({ secret: name, outcome: result.outcome, rolled: result.rolled }, 'secret written')
      for (const workload of result.rolled) {
        const spec = declarations.store.get(workload)?.workload
        if (spec !== undefined) record({ kind: 'declared', workload, generation: generationOf(spec) })
      }
      return result
    },
    remove: async (name) => {
      const outcome = await keeper.remove(name)
      logger.info({ secret: name, outcome }, 'secret removed')
      return outcome
    },
    login: async (registry, username, password) => {
      const outcome = await keeper.login(registry, username, password)
      logger.info({ registry, outcome }, 'registry login written')
      if (outcome !== 'unchanged') await loggedIn(registry)
      return outcome
    },
    logout: async (registry) => {
      const outcome = await keeper.logout(registry)
      logger.info({ registry, outcome }, 'registry login removed')
      return outcome
    },
  }
}
