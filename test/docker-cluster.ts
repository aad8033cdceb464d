import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll } from 'vitest'
import type { NodeView, WorkloadRow } from '../packages/node/src/api/routes.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import {
  cleanup,
  DaemonProcess,
  GARY_BIN,
  runCli,
  waitFor,
  withoutGarySettings,
} from '../packages/node/src/testing/index.js'
import { converged, docker } from './cluster-checks.js'

/** What a `gary` run printed, and its exit code, whatever the code. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export interface DockerClusterOptions {
  /** Daemons to start, the first the others' join address. Default 2. */
  nodes?: number
  /** Daemon `index`'s flags beyond `--runtime docker`, read once its turn comes. Default: 2 cpus, 2 GiB. */
  args?: (index: number) => string[]
  /** Writes a cluster key (`gary keygen`) to `keyFile` and gives it to every daemon. Default false. */
  clusterKey?: boolean
  /** Runs before any daemon starts (make what the flags name). */
  prepare?: () => Promise<void>
  /** Runs once the daemons are stopped and their containers removed (remove what `prepare` made). */
  finish?: () => Promise<void>
  /** After each test, removes every workload and waits until no node runs anything. Default false. */
  emptyAfterEach?: boolean
}

/**
 * Real daemons on the host's Docker engine, for one `describe`: started and seen alive on every
 * node before the file's tests (and before its own `beforeAll` hooks, which run after this one),
 * stopped after them, with every container and volume their node ids label removed. Call it at
 * the top of the `describe`.
 *
 * @example
 * ```ts
 * describe.runIf(available)('rollouts', () => {
 *   const cluster = dockerCluster({ emptyAfterEach: true })
 *   it('applies', async () => {
 *     expect((await cluster.apply('web', 'name: web\nimage: gary/busybox:test\n')).code).toBe(0)
 *   })
 * })
 * ```
 */
export function dockerCluster(options: DockerClusterOptions = {}) {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  const cluster = {
    /** The daemons, in start order; a test may replace or add one (it is stopped after all the same). */
    daemons,
    /** Directories removed after the file's tests; a test may add its own. */
    dirs,
    /** A directory for the tests' spec files. */
    files: '',
    /** The cluster key's file (with `clusterKey`). */
    keyFile: '',
    /** Runs `gary ARGS` against the first daemon's API (unless ARGS name one), with `input` on stdin. */
    gary(args: string[], input?: string): Promise<CliResult> {
      const api = args.includes('--api') ? [] : ['--api', daemons[0]!.api]
      return garyExit([...args, ...api], input)
    },
    /** Writes `text` to `NAME.yaml` and runs `gary apply -f` with `flags` against the first daemon. */
    async apply(name: string, text: string, ...flags: string[]): Promise<CliResult> {
      const path = join(cluster.files, `${name}.yaml`)
      await writeFile(path, text)
      return cluster.gary(['apply', '-f', path, ...flags])
    },
  }

  beforeAll(async () => {
    cluster.files = await DaemonProcess.tempDir('gary-specs-')
    dirs.push(cluster.files)
    if (options.clusterKey === true) {
      cluster.keyFile = join(cluster.files, 'cluster.key')
      await writeFile(cluster.keyFile, await runCli(['keygen']))
    }
    await options.prepare?.()
    const key = options.clusterKey === true ? ['--cluster-key', cluster.keyFile] : []
    for (let i = 0; i < (options.nodes ?? 2); i++) {
      const dir = await DaemonProcess.tempDir()
      dirs.push(dir)
      const args = options.args?.(i) ?? ['--cpu', '2', '--memory', '2Gi']
      daemons.push(
        await new DaemonProcess({
          dataDir: dir,
          join: i === 0 ? [] : [daemons[0]!.joinAddr],
          args: ['--runtime', 'docker', ...key, ...args],
          startTimeoutMs: 60_000,
        }).start(),
      )
    }
    await waitFor(`${daemons.length} nodes alive on every node`, async () => {
      for (const d of daemons)
        if ((await d.cli<NodeView[]>('nodes')).filter((n) => n.state === 'alive').length !== daemons.length)
          return false
      return true
    })
  }, 120_000)

  if (options.emptyAfterEach === true)
    afterEach(async () => {
      for (const row of await daemons[0]!.cli<WorkloadRow[]>('get')) await daemons[0]!.cli('rm', row.name)
      await converged(daemons, {})
    })

  afterAll(async () => {
    await cleanup(daemons, dirs)
    for (const daemon of daemons) {
      for (const container of await docker.list({ [LABELS.node]: daemon.peerId }))
        await docker.remove(container.id).catch(() => {})
      for (const volume of await docker.listVolumes({ [LABELS.node]: daemon.peerId }))
        await docker.removeVolume(volume.name).catch(() => {})
    }
    await options.finish?.()
  })

  return cluster
}

/** Runs the CLI with `input` on stdin; its exit code, stdout and stderr, whatever the code. */
export function garyExit(args: string[], input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [GARY_BIN, ...args],
      { env: withoutGarySettings() },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    )
    child.stdin?.end(input ?? '')
  })
}
