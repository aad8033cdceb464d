// One class per failure, each with a stable `name`: callers and tests switch on `name`, never on
// the message, which is a sentence for people.

/** The image is not present locally and could not be pulled. */
export class ImagePullError extends Error {
  static readonly NAME: string = 'ImagePullError'
  override readonly name: string = ImagePullError.NAME
  readonly image: string

  constructor(image: string, reason: string, options?: ErrorOptions) {
    super(`image ${image} is not present and could not be pulled: ${reason}`, options)
    this.image = image
  }
}

/** The registry refused the pull for want of credentials, or for the wrong ones. */
export class RegistryAuthError extends ImagePullError {
  static override readonly NAME = 'RegistryAuthError'
  override readonly name = RegistryAuthError.NAME
  readonly registry: string

  constructor(image: string, registry: string, reason: string, options?: ErrorOptions) {
    super(
      image,
      `the registry ${registry} refused the credentials (${reason}): run gary login ${registry}`,
      options,
    )
    this.registry = registry
  }
}

/** A failure about one container, named by its id or name. */
export abstract class ContainerError extends Error {
  readonly container: string

  constructor(container: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.container = container
  }
}

/** No container has this id or name. */
export class ContainerNotFoundError extends ContainerError {
  static readonly NAME = 'ContainerNotFoundError'
  override readonly name = ContainerNotFoundError.NAME

  constructor(container: string, options?: ErrorOptions) {
    super(container, `no container ${container}`, options)
  }
}

/** Another container already has this name. */
export class NameConflictError extends ContainerError {
  static readonly NAME = 'NameConflictError'
  override readonly name = NameConflictError.NAME

  constructor(container: string, options?: ErrorOptions) {
    super(container, `a container named ${container} already exists: remove it or pick another name`, options)
  }
}

/** The container was created but its process could not start (bad command, port taken...). */
export class ContainerStartError extends ContainerError {
  static readonly NAME = 'ContainerStartError'
  override readonly name = ContainerStartError.NAME
  /** The engine's words for why. */
  readonly reason: string

  constructor(container: string, reason: string, options?: ErrorOptions) {
    super(container, `container ${container} could not start: ${reason}`, options)
    this.reason = reason
  }
}

/** A failure about one named volume. */
export abstract class VolumeError extends Error {
  readonly volume: string

  constructor(volume: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.volume = volume
  }
}

/** No named volume has this name. */
export class VolumeNotFoundError extends VolumeError {
  static readonly NAME = 'VolumeNotFoundError'
  override readonly name = VolumeNotFoundError.NAME

  constructor(volume: string, options?: ErrorOptions) {
    super(volume, `no volume ${volume}`, options)
  }
}

/** A container still mounts the volume, so it cannot be removed. */
export class VolumeInUseError extends VolumeError {
  static readonly NAME = 'VolumeInUseError'
  override readonly name = VolumeInUseError.NAME

  constructor(volume: string, options?: ErrorOptions) {
    super(
      volume,
      `volume ${volume} is in use by a container: remove the workload (or wait for its slot to go) first`,
      options,
    )
  }
}

/** No engine answers where the runtime looked. */
export class RuntimeUnavailableError extends Error {
  static readonly NAME = 'RuntimeUnavailableError'
  override readonly name = RuntimeUnavailableError.NAME
  /** Where the runtime looked, e.g. a socket path. */
  readonly where: string

  constructor(where: string, message?: string, options?: ErrorOptions) {
    super(
      message ?? `no Docker engine answers at ${where}: start dockerd, or run scripts/ensure-docker.sh`,
      options,
    )
    this.where = where
  }
}

/** The engine answered with an error no other class describes. */
export class EngineError extends Error {
  static readonly NAME = 'EngineError'
  override readonly name = EngineError.NAME
  /** The engine's HTTP status, when it answered. */
  readonly statusCode: number | undefined

  constructor(message: string, statusCode?: number, options?: ErrorOptions) {
    super(message, options)
    this.statusCode = statusCode
  }
}
