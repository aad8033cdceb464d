/**
 * Gary's container runtimes: the `ContainerRuntime` interface the reconcile loop uses, its errors,
 * an in-memory fake and a runtime that always fails. The Docker driver and the local test image
 * are subpaths (`@gary/runtime/docker`, `@gary/runtime/test-image`), so that code which does not
 * drive Docker does not load dockerode (about 0.2 s of CPU).
 *
 * @example
 * ```ts
 * import { DockerRuntime } from '@gary/runtime/docker'
 * import { ensureTestImage, TEST_IMAGE } from '@gary/runtime/test-image'
 *
 * const runtime = new DockerRuntime() // /var/run/docker.sock, or DOCKER_HOST
 * await ensureTestImage(runtime)
 * await runtime.run({
 *   name: 'web-0',
 *   image: TEST_IMAGE,
 *   command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
 *   labels: { 'gary.node': 'n1' },
 *   ports: [{ containerPort: 8080 }],
 *   restart: { policy: 'on-failure', maxRetries: 3 },
 * })
 * console.log(await runtime.list({ 'gary.node': 'n1' }))
 * await runtime.close()
 * ```
 */
export * from './errors.js'
export * from './failing.js'
export {
  FakeRuntime,
  type FakeRuntimeComponents,
  type FakeRuntimeInit,
  hasLabels,
  KILL_EXIT_CODE,
  STOP_EXIT_CODE,
  type Timers,
} from './fake.js'
export * from './registry.js'
export type * from './types.js'
