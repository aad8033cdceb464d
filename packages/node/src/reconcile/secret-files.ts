import type { Workload } from '@gary/protocol'

/** Where a node puts the secrets of its containers: files the engine binds read-only. */
export interface SecretFiles {
  /**
   * Writes the workload's secrets for the container named `container` (again, when they are
   * there already) and says which host files to bind where. Throws SecretUnavailableError when
   * one cannot be had.
   */
  write(workload: Workload, container: string): Promise<{ source: string; target: string }[]>
  /** The container is gone: its files go too. */
  release(container: string): Promise<void>
}

/** A secret a workload reads cannot be delivered here: missing, unreadable, or no place for it. */
export class SecretUnavailableError extends Error {
  static readonly NAME = 'SecretUnavailableError'
  override readonly name = SecretUnavailableError.NAME
}

/** Where secrets appear in a container. */
export const SECRETS_MOUNT = '/run/secrets'
