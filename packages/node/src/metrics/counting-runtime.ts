import type {
  ContainerDetails,
  ContainerRuntime,
  ContainerSpec,
  ContainerSummary,
  LogLine,
  LogOptions,
  RegistryAuth,
  RuntimeEvent,
  RuntimeInfo,
  VolumeSummary,
} from '@gary/runtime'

/**
 * What the counting runtime reports: each start and image check, with how it ended, and every
 * call of the runtime's by its name (`run` and `ensureImage` are one each, whatever they cost the
 * engine; an event or log stream is one when opened).
 */
export interface RuntimeCounters {
  started(outcome: 'ok' | 'failed'): void
  imageEnsured(outcome: 'ok' | 'failed'): void
  called?(call: string): void
}

/**
 * A runtime that counts the container starts and image pulls the daemon asks of the engine, and
 * otherwise passes every call through unchanged.
 */
export class CountingRuntime implements ContainerRuntime {
  constructor(
    private readonly inner: ContainerRuntime,
    private readonly counters: RuntimeCounters,
  ) {}

  async start(id: string, signal?: AbortSignal): Promise<void> {
    this.counters.called?.('start')
    try {
      await this.inner.start(id, signal)
      this.counters.started('ok')
    } catch (err) {
      if (!signal?.aborted) this.counters.started('failed')
      throw err
    }
  }

  async run(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary> {
    this.counters.called?.('run')
    try {
      const summary = await this.inner.run(spec, signal)
      this.counters.started('ok')
      return summary
    } catch (err) {
      if (!signal?.aborted) this.counters.started('failed')
      throw err
    }
  }

  async ensureImage(image: string, signal?: AbortSignal, auth?: RegistryAuth): Promise<void> {
    this.counters.called?.('ensureImage')
    try {
      await this.inner.ensureImage(image, signal, auth)
      this.counters.imageEnsured('ok')
    } catch (err) {
      if (!signal?.aborted) this.counters.imageEnsured('failed')
      throw err
    }
  }

  info(signal?: AbortSignal): Promise<RuntimeInfo> {
    this.counters.called?.('info')
    return this.inner.info(signal)
  }

  create(spec: ContainerSpec, signal?: AbortSignal): Promise<ContainerSummary> {
    this.counters.called?.('create')
    return this.inner.create(spec, signal)
  }

  stop(id: string, timeoutSeconds?: number, signal?: AbortSignal): Promise<void> {
    this.counters.called?.('stop')
    return this.inner.stop(id, timeoutSeconds, signal)
  }

  remove(id: string, signal?: AbortSignal): Promise<void> {
    this.counters.called?.('remove')
    return this.inner.remove(id, signal)
  }

  list(labels: Record<string, string>, signal?: AbortSignal): Promise<ContainerSummary[]> {
    this.counters.called?.('list')
    return this.inner.list(labels, signal)
  }

  inspect(id: string, signal?: AbortSignal): Promise<ContainerDetails> {
    this.counters.called?.('inspect')
    return this.inner.inspect(id, signal)
  }

  events(labels: Record<string, string>, signal: AbortSignal): AsyncIterable<RuntimeEvent> {
    this.counters.called?.('events')
    return this.inner.events(labels, signal)
  }

  logs(id: string, options?: LogOptions): AsyncIterable<LogLine> {
    this.counters.called?.('logs')
    return this.inner.logs(id, options)
  }

  listVolumes(labels: Record<string, string>, signal?: AbortSignal): Promise<VolumeSummary[]> {
    this.counters.called?.('listVolumes')
    return this.inner.listVolumes(labels, signal)
  }

  removeVolume(name: string, signal?: AbortSignal): Promise<void> {
    this.counters.called?.('removeVolume')
    return this.inner.removeVolume(name, signal)
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}
