// Builds the local test image (gary/busybox:test) in the running Docker engine, with no registry.
// Idempotent. Needs the build (`npx tsc -b`) and an engine (`bash scripts/ensure-docker.sh`).
//   node scripts/build-test-image.mjs [tag]
import { DockerRuntime } from '../packages/runtime/dist/docker.js'
import { ensureTestImage, TEST_IMAGE } from '../packages/runtime/dist/test-image.js'

const tag = process.argv[2] ?? TEST_IMAGE
const runtime = new DockerRuntime()
try {
  await ensureTestImage(runtime, tag, { signal: AbortSignal.timeout(120_000) })
  console.error(`build-test-image: ${tag} is ready`)
} catch (err) {
  console.error(`build-test-image: ${err.message}`)
  process.exitCode = 1
} finally {
  await runtime.close()
}
