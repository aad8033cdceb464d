import { type Logger, type LoggerOptions, pino } from 'pino'

export type { Logger }

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/** Sees every line logged at or above the level, before it is written (the metrics count some). */
export type LineTap = (fields: Record<string, unknown> | undefined, msg: string) => void

/**
 * Structured logs: pretty lines for a person at a terminal, JSON lines otherwise (files, tests,
 * log shippers). `GARY_LOG_FORMAT=json|pretty` overrides the guess.
 */
export function createLogger(level: LogLevel, format = process.env.GARY_LOG_FORMAT, tap?: LineTap): Logger {
  const pretty = format === undefined ? process.stdout.isTTY === true : format === 'pretty'
  const hooks: LoggerOptions['hooks'] =
    tap === undefined
      ? {}
      : {
          logMethod(args, method) {
            const [first, second] = args as unknown[]
            if (typeof first === 'string') tap(undefined, first)
            else if (typeof second === 'string') tap(first as Record<string, unknown>, second)
            return method.apply(this, args)
          },
        }
  if (!pretty) return pino({ level, base: undefined, hooks })
  return pino({
    level,
    base: undefined,
    hooks,
    transport: {
      target: 'pino-pretty',
      options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true },
    },
  })
}

/**
 * A handler for a failure that is expected and changes nothing (a container already gone, a
 * stream the peer closed first): it says at debug what was swallowed, so that nothing fails
 * without a trace. Returns undefined, for `.catch(swallowed(...))` where a value is optional.
 */
export function swallowed(
  logger: Pick<Logger, 'debug'>,
  what: string,
  fields: Record<string, unknown> = {},
): (err: unknown) => undefined {
  return (err) => {
    logger.debug({ ...fields, err: err instanceof Error ? err.message : String(err) }, what)
    return undefined
  }
}
