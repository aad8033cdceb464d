import { type Logger, pino } from 'pino'

export type { Logger }

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/**
 * Structured logs: pretty lines for a person at a terminal, JSON lines otherwise (files, tests,
 * log shippers). `GARY_LOG_FORMAT=json|pretty` overrides the guess.
 */
export function createLogger(level: LogLevel, format = process.env.GARY_LOG_FORMAT): Logger {
  const pretty = format === undefined ? process.stdout.isTTY === true : format === 'pretty'
  if (!pretty) return pino({ level, base: undefined })
  return pino({
    level,
    base: undefined,
    transport: {
      target: 'pino-pretty',
      options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true },
    },
  })
}
