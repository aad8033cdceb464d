import { test } from 'vitest'
import { DockerRuntime } from '../packages/runtime/src/docker.js'
import { ensureTestImage } from '../packages/runtime/src/test-image.js'

/**
 * Whether a Docker engine answers, with the test image in it. Without one, a suite that needs it
 * fails under GARY_REQUIRE_DOCKER=1 (CI) and is skipped, loudly, otherwise.
 */
export async function dockerForTests(suite: string): Promise<boolean> {
  const probe = new DockerRuntime()
  try {
    await probe.info(AbortSignal.timeout(5_000))
    await ensureTestImage(probe)
    return true
  } catch (err) {
    if (process.env.GARY_REQUIRE_DOCKER === '1') {
      test(`${suite}: a Docker engine answers (GARY_REQUIRE_DOCKER=1)`, () => {
        throw err
      })
    } else {
      console.warn(`SKIPPED ${suite}: ${(err as Error).message}. Set GARY_REQUIRE_DOCKER=1 to fail instead.`)
    }
    return false
  } finally {
    await probe.close()
  }
}
