// The CLI loads this module: the protocol's index would bring zod and yaml along (about 270 more modules).
import { slotKey } from '@gary/protocol/slot-key'

/** A problem the user can fix: the CLI prints the message alone, without a stack. */
export class UserError extends Error {
  override name = 'UserError'
}

/** The configuration (flags, environment, file) is invalid. */
export class ConfigError extends UserError {
  override name = 'ConfigError'
}

/** The cluster key file is missing or is not a pre-shared key. */
export class ClusterKeyError extends UserError {
  override name = 'ClusterKeyError'
}

/** The data dir's `incarnation` file holds a value this node cannot restart from. */
export class IncarnationError extends UserError {
  override name = 'IncarnationError'
}

/** No daemon answers at the API address the CLI was given. */
export class DaemonUnreachableError extends UserError {
  override name = 'DaemonUnreachableError'
}

/** The daemon answered the CLI with an error. */
export class ApiError extends UserError {
  override name = 'ApiError'
  constructor(
    message: string,
    readonly status: number,
    /** The daemon's list of problems, when it gave one (they are in the message too). */
    readonly details?: string[],
  ) {
    super(message)
  }
}

/** Files given to `gary apply` or `gary convert` hold problems: nothing was applied. */
export class InvalidSpecError extends UserError {
  override name = 'InvalidSpecError'
  constructor(readonly details: string[]) {
    super(`invalid workload spec, nothing applied:\n  ${details.join('\n  ')}`)
  }
}

/** No node runs the slot (or no slot of the workload) whose logs were asked for. */
export class SlotNotPlacedError extends UserError {
  override name = 'SlotNotPlacedError'
  constructor(
    readonly workload: string,
    readonly slot?: number,
  ) {
    super(`${slot === undefined ? workload : slotKey(workload, slot)} runs nowhere (see gary ps)`)
  }
}

/** A node was asked for the logs of a slot it does not hold (the asker's view was out of date). */
export class SlotNotHeldError extends UserError {
  override name = 'SlotNotHeldError'
}

/** The node holding a slot could not be reached, or its log stream broke or made no sense. */
export class LogStreamError extends UserError {
  override name = 'LogStreamError'
}

/** A file in the data dir could not be written durably (disk full, read-only, no permission). */
export class DataDirWriteError extends UserError {
  override name = 'DataDirWriteError'
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message)
  }
}

/** A node's event stream could not be read: unreachable, malformed, or speaking for another node. */
export class EventStreamError extends UserError {
  override name = 'EventStreamError'
}
