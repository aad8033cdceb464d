import { Worker } from 'node:worker_threads'
import { type ParseResult, parseWorkloadFile } from '@gary/protocol'

export interface SpecParserInit {
  /**
   * Texts up to this size are parsed on the event loop: at 4 KiB the slowest text found took
   * 25 ms, while a worker's first parse took 200-580 ms to start. Default 4096 bytes.
   */
  inlineBytes?: number
  /** A parse in the worker that takes longer is stopped and the text refused, ms. Default 20000: a 1000-workload file of 870 KB took over 5 s on this busy 2-core machine. */
  timeoutMs?: number
  /** The worker's heap limit: a text that needs more is refused, MiB. Default 128. */
  heapMb?: number
  /** An idle worker ends after this long, ms. Default 60000. */
  idleMs?: number
}

/** A spec the parser gave up on (too slow, too large): nothing of it was applied. */
export class SpecTooCostlyError extends Error {
  override name = 'SpecTooCostlyError'
}

/**
 * Parses spec files from the API without blocking the event loop: a hostile 500 KB text kept
 * the YAML parser busy for 10 s, long enough for the peers to declare the node dead. Large texts
 * go to a worker thread with a time limit and a heap limit, one at a time; a worker that
 * overruns is terminated, and the next text gets a new one.
 */
export class SpecParser {
  readonly #inlineBytes: number
  readonly #timeoutMs: number
  readonly #heapMb: number
  readonly #idleMs: number
  #worker?: Worker
  #idle?: NodeJS.Timeout
  #turn: Promise<unknown> = Promise.resolve()
  #nextId = 0

  constructor(init: SpecParserInit = {}) {
    this.#inlineBytes = init.inlineBytes ?? 4096
    this.#timeoutMs = init.timeoutMs ?? 20_000
    this.#heapMb = init.heapMb ?? 128
    this.#idleMs = init.idleMs ?? 60_000
  }

  /** The workloads of a spec file, or its problems; rejects with SpecTooCostlyError. */
  parse(text: string): Promise<ParseResult> {
    // Length in UTF-16 units is at most the UTF-8 byte count.
    if (text.length <= this.#inlineBytes && Buffer.byteLength(text) <= this.#inlineBytes)
      return Promise.resolve(parseWorkloadFile(text))
    const result = this.#turn.then(() => this.#inWorker(text))
    this.#turn = result.catch(() => {})
    return result
  }

  async stop(): Promise<void> {
    clearTimeout(this.#idle)
    const worker = this.#worker
    this.#worker = undefined
    await worker?.terminate()
  }

  #inWorker(text: string): Promise<ParseResult> {
    clearTimeout(this.#idle)
    const worker = this.#worker ?? this.#spawn()
    const id = this.#nextId++
    return new Promise<ParseResult>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
      }
      const fail = (message: string) => {
        done()
        void this.#discard(worker)
        reject(new SpecTooCostlyError(message))
      }
      const onMessage = (message: { id: number; result: ParseResult }) => {
        if (message.id !== id) return
        done()
        this.#idle = setTimeout(() => void this.#discard(worker), this.#idleMs).unref()
        resolve(message.result)
      }
      const onError = (err: Error & { code?: string }) =>
        fail(
          err.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? `the spec needs more than ${this.#heapMb} MiB to parse`
            : `the spec could not be parsed: ${err.message}`,
        )
      const onExit = () => fail('the spec parser stopped')
      const timer = setTimeout(
        () => fail(`the spec took more than ${this.#timeoutMs / 1000} s to parse`),
        this.#timeoutMs,
      )
      worker.on('message', onMessage)
      worker.once('error', onError)
      worker.once('exit', onExit)
      worker.postMessage({ id, text })
    })
  }

  #spawn(): Worker {
    // From dist/api/ and from the bundle's dist/bundle/ alike.
    const worker = new Worker(new URL('../api/spec-worker.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.#heapMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    })
    worker.unref()
    this.#worker = worker
    return worker
  }

  async #discard(worker: Worker): Promise<void> {
    if (this.#worker === worker) this.#worker = undefined
    await worker.terminate().catch(() => {})
  }
}
