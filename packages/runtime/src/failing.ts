import { RuntimeUnavailableError } from './errors.js'
import type {
  ContainerDetails,
  ContainerRuntime,
  ContainerSummary,
  LogLine,
  RuntimeEvent,
  RuntimeInfo,
  VolumeSummary,
} from './types.js'

/**
 * A runtime whose engine never answers: every call throws RuntimeUnavailableError, for tests of
 * error paths (the role of Nomad's `db_error.go`).
 */
export class FailingRuntime implements ContainerRuntime {
  readonly #where: string

  /** `where`: the place named in error messages. Default `/var/run/docker.sock`. */
  constructor(where = '/var/run/docker.sock') {
    this.#where = where
  }

  async info(): Promise<RuntimeInfo> {
    throw this.#error()
  }
  async ensureImage(): Promise<void> {
    throw this.#error()
  }
  async create(): Promise<ContainerSummary> {
    throw this.#error()
  }
  async start(): Promise<void> {
    throw this.#error()
  }
  async run(): Promise<ContainerSummary> {
    throw this.#error()
  }
  async stop(): Promise<void> {
    throw this.#error()
  }
  async remove(): Promise<void> {
    throw this.#error()
  }
  async list(): Promise<ContainerSummary[]> {
    throw this.#error()
  }
  async inspect(): Promise<ContainerDetails> {
    throw this.#error()
  }
  // biome-ignore lint/correctness/useYield: it fails before it could yield
  async *events(): AsyncIterable<RuntimeEvent> {
    throw this.#error()
  }
  // biome-ignore lint/correctness/useYield: it fails before it could yield
  async *logs(): AsyncIterable<LogLine> {
    throw this.#error()
  }
  async listVolumes(): Promise<VolumeSummary[]> {
    throw this.#error()
  }
  async removeVolume(): Promise<void> {
    throw this.#error()
  }
  async close(): Promise<void> {}

  #error(): RuntimeUnavailableError {
    return new RuntimeUnavailableError(this.#where)
  }
}
