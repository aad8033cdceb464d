import type { DaemonProcess, LogLine } from './daemon-process.js'

/**
 * The lines where `observer` logged a member suspect, accused it of silence (fast detection), or
 * found it dead (`about` that member only, when given): between healthy daemons there must be none.
 */
export function suspicions(observer: DaemonProcess, about?: string): LogLine[] {
  return observer.logs.filter(
    (line) =>
      (line.msg === 'member suspect' ||
        line.msg === 'member silent: accusing' ||
        line.msg === 'member dead') &&
      (about === undefined || line.member === about),
  )
}
