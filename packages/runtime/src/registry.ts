/**
 * The registry an image reference pulls from, as Docker reads it: the first path component when
 * it has a `.` or a `:` or is `localhost`; Docker Hub (`docker.io`) otherwise.
 */
export function registryOfImage(image: string): string {
  const slash = image.indexOf('/')
  if (slash < 0) return 'docker.io'
  const first = image.slice(0, slash)
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io'
}

/**
 * Whether the engine's words for a failed pull say the registry refused for credentials: a 401,
 * or the engine's sentences for a missing or refused login (Docker 20.10 to 27).
 */
export function refusedForCredentials(reason: string): boolean {
  return /\bunauthorized\b|authentication required|no basic auth credentials|\b401\b|incorrect username or password|denied: requested access/i.test(
    reason,
  )
}
