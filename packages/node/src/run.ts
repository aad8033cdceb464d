import { type ContainerRuntime, FakeRuntime } from '@gary/runtime'
import { apiRoutes } from './api/routes.js'
import { ApiRequestError, ApiServer, type Route } from './api/server.js'
import { SpecParser } from './api/spec-parser.js'
import { readApiToken } from './config/api-token.js'
import { type DaemonConfig, parseHostPort } from './config/config.js'
import { Daemon, type TestHooks } from './daemon.js'
import { writeError } from './data-dir/durable-file.js'
import { UserError } from './errors.js'
import { createLogger } from './logger.js'
import { CountingRuntime } from './metrics/counting-runtime.js'
import { GaryMetrics } from './metrics/metrics.js'
import { metricsRoute } from './metrics/route.js'
import { pageRoutes } from './ui/routes.js'
import { volumeRoutes } from './volumes/routes.js'

const GiB = 2 ** 30

/** The runtime driver the config names. The fake offers 4 cores and 8 GiB unless told otherwise. */
export async function createRuntime(config: DaemonConfig): Promise<ContainerRuntime> {
  if (config.runtime === 'fake') {
    return new FakeRuntime({
      cpuMillis: config.cpuMillis ?? 4000,
      memoryBytes: config.memoryBytes ?? 8 * GiB,
    })
  }
  // Loaded only when used: dockerode costs about 0.2 s of CPU to load.
  const { DockerRuntime } = await import('@gary/runtime/docker')
  return new DockerRuntime()
}

/**
 * Runs a daemon until SIGINT or SIGTERM, then stops it cleanly. `testHooks` (the hidden
 * `--test-hooks` flag) lets the GARY_TEST_* fault hooks work; without it they stop the daemon.
 */
export async function runDaemon(config: DaemonConfig, options: { testHooks?: boolean } = {}): Promise<void> {
  const testHooks = testHooksFromEnv(process.env, options.testHooks === true)
  const metrics = new GaryMetrics({ heartbeatMs: config.heartbeatMs })
  const logger = createLogger(config.logLevel, undefined, metrics.logLine)
  if (
    testHooks.dropDeclGossip > 0 ||
    testHooks.partition ||
    testHooks.wallOffsetMs !== 0 ||
    testHooks.meshLagMs > 0
  )
    logger.warn(
      { hooks: testHooks },
      'test hooks on: this node drops messages, cuts connections, shifts its clock or lags its mesh as told',
    )
  const runtime = new CountingRuntime(await createRuntime(config), metrics.runtime)
  const daemon = new Daemon(config, { logger, runtime, testHooks, metrics })
  const { host, port } = parseHostPort(config.api)
  let started = false
  // The API listens first, so that a daemon whose API address is taken never starts (and never
  // says `started`); it answers 503 until the daemon has started.
  const specs = new SpecParser()
  const routes = [
    ...apiRoutes(daemon, { specs, testHooks: testHooks.partition }),
    ...volumeRoutes(daemon),
    metricsRoute(metrics),
    ...pageRoutes({
      source: daemon,
      figures: () => metrics.figures(),
      // The page reads `at` as wall ms: the recording node's hybrid clock, its wall part.
      events: async function* (signal) {
        for await (const item of await daemon.events({ filter: {}, limit: 100, follow: true, signal }))
          if ('kind' in item) yield { ...item, at: item.at.wall }
      },
    }),
  ].map((route) => ({
    ...route,
    handle: (request: Parameters<Route['handle']>[0]) => {
      if (!started) throw new ApiRequestError(503, 'the daemon is starting: ask again in a moment')
      return route.handle(request)
    },
  }))
  const token = readApiToken(config)
  const onAnswer = metrics.answered.bind(metrics)
  const api = new ApiServer({ host, port, token }, routes, logger, { onAnswer })
  const metricsApi =
    config.metrics === undefined
      ? undefined
      : new ApiServer(
          { ...parseHostPort(config.metrics, 'metrics'), token, name: 'metrics' },
          [metricsRoute(metrics)],
          logger,
          { onAnswer },
        )
  try {
    await listen(api, 'API', '--api', config.api)
    if (metricsApi !== undefined) await listen(metricsApi, 'metrics', '--metrics', config.metrics!)
  } catch (err) {
    await api.stop()
    throw err
  }
  try {
    await daemon.start()
  } catch (err) {
    await api.stop()
    await metricsApi?.stop()
    await daemon.stop().catch(() => {})
    throw explainStartError(err as Error & { code?: string }, config)
  }
  started = true
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping')
    // Peers hear that it leaves, and run its slots, before the process is gone.
    await daemon.leave().catch((err: Error) => logger.warn({ err: err.message }, 'could not leave cleanly'))
    await api.stop()
    await metricsApi?.stop()
    await specs.stop()
    await daemon.stop()
    await runtime.close()
    logger.flush()
    process.exit(0)
  }
  process.once('SIGINT', () => void stop('SIGINT'))
  process.once('SIGTERM', () => void stop('SIGTERM'))
}

async function listen(server: ApiServer, what: string, flag: string, address: string): Promise<void> {
  try {
    await server.start()
  } catch (err) {
    const code = (err as { code?: string }).code
    throw code === 'EADDRINUSE'
      ? new UserError(
          `${what} address ${address} is in use: is another daemon running here? Pick another with ${flag}`,
        )
      : err
  }
}

function explainStartError(err: Error & { code?: string }, config: DaemonConfig): Error {
  if (err.code === 'EADDRINUSE' || /EADDRINUSE/.test(err.message)) {
    return new UserError(
      `listen address ${config.listen.join(', ')} is in use: is another daemon running here? Pick another with --listen`,
    )
  }
  if (err.name === 'RuntimeUnavailableError') {
    return new UserError(`${err.message} (or run with --runtime fake to try Gary without containers)`)
  }
  // A data dir the daemon cannot write to (read-only, full, not ours) is the user's to fix.
  if (err.name === 'DataDirWriteError')
    return new UserError(`${err.message}: give --data-dir a writable directory`)
  const { path, code } = err as Error & { path?: string; code?: string }
  if (
    code !== undefined &&
    typeof path === 'string' &&
    DATA_DIR_CODES.has(code) &&
    path.startsWith(config.dataDir)
  ) {
    const { message } = writeError(path, err as NodeJS.ErrnoException)
    return new UserError(`${message}: give --data-dir a writable directory`)
  }
  return err
}

const DATA_DIR_CODES = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EISDIR', 'EIO'])

/**
 * Fault-test hooks, from variables no production setup sets, and only with the test-only switch:
 * a stray variable must not make a production node drop messages without a word.
 */
function testHooksFromEnv(
  env: NodeJS.ProcessEnv,
  allowed: boolean,
): Required<Pick<TestHooks, 'dropDeclGossip' | 'partition' | 'wallOffsetMs' | 'meshLagMs'>> {
  const set = TEST_HOOK_VARIABLES.filter((name) => env[name] !== undefined && env[name] !== '')
  if (set.length > 0 && !allowed)
    throw new UserError(
      `${set.join(' and ')} ${set.length > 1 ? 'are test hooks' : 'is a test hook'}: unset ${set.length > 1 ? 'them' : 'it'} (a test passes --test-hooks too)`,
    )
  return {
    dropDeclGossip: Number.parseInt(env.GARY_TEST_DROP_DECL_GOSSIP ?? '0', 10) || 0,
    partition: env.GARY_TEST_PARTITION === '1',
    wallOffsetMs: Number.parseInt(env.GARY_TEST_WALL_OFFSET_MS ?? '0', 10) || 0,
    meshLagMs: Math.max(0, Number.parseInt(env.GARY_TEST_MESH_LAG_MS ?? '0', 10) || 0),
  }
}

const TEST_HOOK_VARIABLES = [
  'GARY_TEST_PARTITION',
  'GARY_TEST_DROP_DECL_GOSSIP',
  'GARY_TEST_WALL_OFFSET_MS',
  'GARY_TEST_MESH_LAG_MS',
] as const
