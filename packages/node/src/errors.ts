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
  ) {
    super(message)
  }
}
