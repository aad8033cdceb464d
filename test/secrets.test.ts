import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import type { WorkloadRow } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import { rawRequest } from '../packages/node/src/testing/http.js'
import { DaemonProcess, runCli, waitFor } from '../packages/node/src/testing/index.js'
import { docker } from './cluster-checks.js'
import { dockerCluster } from './docker-cluster.js'
import { dockerForTests } from './docker-required.js'

// Secrets and registry logins end to end: two daemons closed by a cluster key, sharing one
// Docker engine. A secret's value reaches its containers as a file on a tmpfs, and nowhere else
// a person or a program could read it; a change rolls the workload; a missing one is refused
// with the reason; a keyless cluster refuses secrets. Registry logins, and a secret's value kept
// from every machine of a cluster, are shown on the lab (test/lab/workloads.test.ts).

const available = await dockerForTests('secrets on Docker')
const SLOW_MS = 90_000
const TMPFS_MAGIC = 0x01021994

const sleeper = (name: string, extra: string) => `name: ${name}
image: gary/busybox:test
command: [sh, -c, 'echo started; exec sleep 3600']
env: {PLAIN: visible-value}
resources: {cpu: 50m, memory: 16Mi}
update: {maxUnavailable: 2, monitor: 0s}
${extra}
`

describe.runIf(available)('secrets on a shared Docker engine', () => {
  // Values are kept on a tmpfs in the test too, so that the grep of the disk below means something.
  let shm: string
  let secretsDir: string
  const { daemons, dirs, gary } = dockerCluster({
    clusterKey: true,
    prepare: async () => {
      shm = await mkdtemp('/dev/shm/gary-secrets-test-')
      secretsDir = join(shm, 'delivered')
    },
    args: () => ['--cpu', '2', '--memory', '2Gi', '--secrets-dir', secretsDir],
    finish: async () => {
      if (shm !== undefined) await rm(shm, { recursive: true, force: true })
    },
  })
  const apply = async (name: string, text: string) => {
    const path = join(shm, `${name}.yaml`)
    await writeFile(path, text)
    return gary(['apply', '-f', path])
  }
  const createSecret = async (name: string, value: string) => {
    const path = join(shm, `value-${name}`)
    await writeFile(path, value)
    return gary(['secret', 'create', name, '-f', path])
  }
  const runningOf = async (workload: string) =>
    (
      await Promise.all(
        daemons.map((d) => docker.list({ [LABELS.node]: d.peerId, [LABELS.workload]: workload })),
      )
    )
      .flat()
      .filter((c) => c.state === 'running')

  it(
    "puts a secret in the container's file and nowhere else; a change rolls the workload to the new value",
    async () => {
      const value = `s3cret-${randomBytes(12).toString('hex')}`
      const created = await createSecret('db-pass', value)
      expect(created.code, created.stderr).toBe(0)
      const applied = await apply(
        'app',
        sleeper('app', 'replicas: 2\nsecrets: [db-pass, {name: db-pass, target: copy, mode: "0400"}]'),
      )
      expect(applied.code, applied.stderr).toBe(0)
      const first = await waitFor(
        'both slots of app to run',
        async () => {
          const running = await runningOf('app')
          return running.length === 2 ? running : undefined
        },
        { timeoutMs: 45_000 },
      )
      for (const container of first) {
        expect(await readInContainer(container.id, '/run/secrets/db-pass')).toBe(value)
        expect(await readInContainer(container.id, '/run/secrets/copy')).toBe(value)
        expect(await readInContainer(container.id, 'stat -c %a /run/secrets/copy')).toBe('400\n')
      }

      // Nowhere a person or a program reads: the API's answers, the logs, the events...
      const answers = [
        (await gary(['inspect', 'app', '--json'])).stdout,
        (await gary(['get', '--json'])).stdout,
        (await gary(['ps', '--json'])).stdout,
        (await gary(['logs', 'app'])).stdout,
        (await gary(['events', '--json'])).stdout,
        (await gary(['secret', 'ls', '--json'])).stdout,
        (await rawRequest(daemons[0]!.api, { method: 'GET', path: '/metrics' })).body,
      ]
      expect(answers.join('\n')).toContain('visible-value')
      expect(answers[0]).toContain('db-pass')
      // ...the daemons' logs, every file of their data dirs, and the engine's view of the containers,
      const logs = daemons.map((d) => JSON.stringify(d.logs) + d.stderr)
      const files = await Promise.all(daemons.map((d) => everyFile(d.options.dataDir)))
      const engine = await Promise.all(first.map((c) => docker.docker.getContainer(c.id).inspect()))
      const everything = [...answers, ...logs, ...files.flat(), JSON.stringify(engine)]
      for (const text of everything) {
        expect(text).not.toContain(value)
        expect(text).not.toContain(Buffer.from(value).toString('base64'))
      }
      // ...whose mounts bind files from a tmpfs, read-only, and whose environment holds no secret.
      for (const details of engine) {
        const binds = details.Mounts.filter((m) => m.Destination.startsWith('/run/secrets/'))
        expect(binds.map((m) => m.Destination).sort()).toEqual(['/run/secrets/copy', '/run/secrets/db-pass'])
        for (const mount of binds) {
          expect(mount.RW).toBe(false)
          expect(mount.Source.startsWith(secretsDir)).toBe(true)
          expect(Number((await statfs(mount.Source)).type)).toBe(TMPFS_MAGIC)
        }
        expect(details.Config.Env.join('\n')).toContain('PLAIN=visible-value')
      }
      // The data dirs hold it sealed: the entry is there, its value is not.
      expect(files.flat().join('\n')).toContain('@secret/db-pass')

      // A new value: the workload rolls, and its containers read the new value.
      const [before] = await daemons[0]!.cli<WorkloadRow[]>('get')
      const next = `n3w-${randomBytes(12).toString('hex')}`
      const changed = await createSecret('db-pass', next)
      expect(changed.code, changed.stderr).toBe(0)
      expect(changed.stdout).toContain('rolling: app')
      const rolled = await waitFor(
        'app to run 2 containers of a new generation on every node',
        async () => {
          for (const daemon of daemons) {
            const [row] = await daemon.cli<WorkloadRow[]>('get')
            const slots = (await daemon.cli<SlotRow[]>('ps')).filter((s) => s.workload === 'app')
            if (row?.generation === before!.generation) return undefined
            if (
              slots.length !== 2 ||
              !slots.every((s) => s.generation === row?.generation && s.phase === 'running')
            )
              return undefined
          }
          const running = await runningOf('app')
          return running.length === 2 ? running : undefined
        },
        { timeoutMs: 45_000 },
      )
      for (const container of rolled) {
        expect(first.map((c) => c.id)).not.toContain(container.id)
        expect(await readInContainer(container.id, '/run/secrets/db-pass')).toBe(next)
      }
      const history = await daemons[1]!.cli<{ cause: string }[]>('history', 'app')
      expect(history[0]?.cause).toBe('secret db-pass changed')
      // The same value again changes nothing.
      expect((await createSecret('db-pass', next)).stdout).toContain('db-pass unchanged')

      // A secret in use cannot be removed; the first containers' files went with them.
      const refused = await gary(['secret', 'rm', 'db-pass'])
      expect(refused.code).not.toBe(0)
      expect(refused.stderr).toContain('secret db-pass is read by app')
      // A node that never ran a secret has no directory.
      const filesOf = (daemon: DaemonProcess) => readdir(join(secretsDir, daemon.peerId)).catch(() => [])
      const left = [...(await filesOf(daemons[0]!)), ...(await filesOf(daemons[1]!))]
      expect(left.sort()).toEqual(rolled.map((c) => c.name).sort())
      expect((await gary(['rm', 'app'])).code).toBe(0)
      await waitFor('app to be gone', async () => (await runningOf('app')).length === 0)
      expect((await gary(['secret', 'rm', 'db-pass'])).stdout).toContain('db-pass deleted')
    },
    SLOW_MS,
  )

  it(
    'refuses a workload whose secret does not exist, with the reason, and runs it once the secret is created',
    async () => {
      const applied = await apply('lost', sleeper('lost', 'replicas: 1\nsecrets: [nowhere]'))
      expect(applied.code, applied.stderr).toBe(0)
      const reasons = await waitFor(
        'lost to be unschedulable, every node saying why',
        async () => {
          const [slot] = (await daemons[1]!.cli<SlotRow[]>('ps')).filter((s) => s.workload === 'lost')
          return slot?.phase === 'unschedulable' && (slot.reasons ?? []).length > 0 ? slot.reasons : undefined
        },
        { timeoutMs: 45_000 },
      )
      expect(reasons!.join('\n')).toContain(
        'secret nowhere does not exist: create it with gary secret create nowhere',
      )
      expect(await runningOf('lost')).toEqual([])

      expect((await createSecret('nowhere', 'found')).stdout).toContain('rolling: lost')
      const [running] = await waitFor(
        'lost to run once its secret exists',
        async () => {
          const list = await runningOf('lost')
          return list.length === 1 ? list : undefined
        },
        { timeoutMs: 45_000 },
      )
      expect(await readInContainer(running!.id, '/run/secrets/nowhere')).toBe('found')
      expect((await gary(['rm', 'lost'])).code).toBe(0)
    },
    SLOW_MS,
  )

  it('refuses secrets in a cluster without a cluster key, in one sentence', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    const open = await new DaemonProcess({ dataDir: dir }).start()
    daemons.push(open)
    const path = join(shm, 'open-value')
    await writeFile(path, 'x')
    const created = await runCli(['secret', 'create', 'db', '-f', path, '--api', open.api]).catch(
      (err: Error) => err,
    )
    expect(created).toBeInstanceOf(Error)
    expect((created as Error).message).toContain('this cluster has no cluster key, so it keeps no secrets')
    const spec = join(shm, 'open.yaml')
    await writeFile(spec, 'name: app\nimage: gary/busybox:test\nsecrets: [db]\n')
    const applied = await runCli(['apply', '-f', spec, '--api', open.api]).catch((err: Error) => err)
    expect((applied as Error).message).toContain('app read secrets, and this cluster has no cluster key')
    daemons.pop()
    await open.kill('SIGTERM')
  })
})

/** Runs `cat PATH` (or a command line) in a container and returns what it printed. */
async function readInContainer(id: string, what: string): Promise<string> {
  const cmd = what.startsWith('/') ? ['cat', what] : ['sh', '-c', what]
  const exec = await docker.docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true })
  const stream = await exec.start({ hijack: true, stdin: false })
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (chunk: Buffer) => chunks.push(chunk))
  docker.docker.modem.demuxStream(stream, out, out)
  await new Promise((resolve) => stream.on('end', resolve))
  return Buffer.concat(chunks).toString('utf8')
}

/** The text of every file under `dir`. */
async function everyFile(dir: string): Promise<string[]> {
  const texts: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    texts.push((await readFile(join(entry.parentPath, entry.name))).toString('latin1'))
  }
  return texts
}
