import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { LABELS } from '../packages/node/src/reconcile/container-labels.js'
import {
  freePort,
  GARY_BIN,
  runCli,
  waitFor,
  withoutGarySettings,
} from '../packages/node/src/testing/index.js'
import { converged, docker } from './cluster-checks.js'
import { dockerCluster } from './docker-cluster.js'
import { dockerForTests } from './docker-required.js'

// The Compose files of examples/compose, applied as a user would (`gary apply -f`), on two real
// daemons sharing the real Docker engine: every service runs with its replicas, and what Gary
// ignored is listed per service.

const EXAMPLES = fileURLToPath(new URL('../examples/compose/', import.meta.url))
const available = await dockerForTests('Compose files on Docker')

interface Note {
  file: string
  service?: string
  kind: string
  key: string
  reason: string
}

describe.runIf(available)('Compose files on a shared Docker engine', () => {
  let env: Record<string, string>
  // Closed by a key: the WordPress example's database reads a secret. The exporter bind-mounts
  // /proc: the node labelled for it allows that.
  const { daemons, dirs } = dockerCluster({
    clusterKey: true,
    prepare: async () => {
      env = {
        // Free on every address, where the engine publishes them: the examples' fixed host ports
        // would clash with other tests.
        RESULT_PORT: String(await freePort('0.0.0.0')),
        WORDPRESS_PORT: String(await freePort('0.0.0.0')),
        WORDPRESS_DEBUG: '',
      }
    },
    args: (i) => [
      '--cpu',
      '4',
      '--memory',
      '4Gi',
      ...(i === 0 ? ['--label', 'monitoring=true', '--allow-host-path', '/proc'] : []),
    ],
  })

  /** Runs `gary apply -f FILE --json` on the first node: its results, and the notes on stderr. */
  const apply = (file: string) =>
    new Promise<{ results: { name: string; outcome: string }[]; notes: Note[] }>((resolve, reject) => {
      execFile(
        process.execPath,
        [GARY_BIN, 'apply', '-f', `${EXAMPLES}${file}`, '--api', daemons[0]!.api, '--json'],
        { env: { ...withoutGarySettings(), ...env } },
        (err, stdout, stderr) => {
          if (err !== null) reject(new Error(`gary apply -f ${file} failed: ${stderr}`))
          else
            resolve({
              results: JSON.parse(stdout),
              notes: stderr
                .split('\n')
                .filter((line) => line !== '')
                .map((line) => JSON.parse(line) as Note),
            })
        },
      )
    })
  const ignoredBy = (notes: Note[]) => {
    const byService: Record<string, string[]> = {}
    for (const note of notes.filter((n) => n.kind === 'ignored')) {
      const service = note.service ?? '(file)'
      byService[service] = [...(byService[service] ?? []), note.key]
    }
    return byService
  }

  it('the voting app runs every service with its replicas; networks, depends_on and volumes are listed ignored', async () => {
    const { results, notes } = await apply('voting-app.yaml')
    expect(results.map((r) => `${r.name}: ${r.outcome}`)).toEqual([
      'redis: created',
      'db: created',
      'vote: created',
      'result: created',
      'worker: created',
    ])
    expect(ignoredBy(notes)).toEqual({
      '(file)': ['networks'],
      redis: ['networks', 'deploy.update_config.delay'],
      db: ['networks', 'deploy.placement.constraints[0]'],
      vote: ['depends_on', 'networks'],
      result: ['depends_on', 'networks', 'deploy.update_config.delay'],
      worker: ['networks', 'deploy.restart_policy.delay', 'deploy.restart_policy.window'],
    })
    for (const note of notes) expect(note.reason.length).toBeGreaterThan(10)
    await converged(daemons, { redis: 1, db: 1, vote: 2, result: 1, worker: 1 })
    // The results page answers on the host port the file published.
    const page = await waitFor('the results page to answer', async () => {
      const response = await fetch(`http://127.0.0.1:${env.RESULT_PORT}/`).catch(() => undefined)
      return response?.ok === true ? response.text() : undefined
    })
    expect(page).toContain('Cats 0, dogs 0')
    await daemons[0]!.cli('rm', 'redis', 'db', 'vote', 'result', 'worker')
    await converged(daemons, {})
  })

  it('the monitoring stack runs its exporter only on the node labelled for it, and its collector once', async () => {
    const { notes } = await apply('monitoring.yaml')
    expect(ignoredBy(notes)).toEqual({
      '(file)': ['configs'],
      'node-exporter': ['hostname', 'pid'],
      collector: ['user', 'configs', 'healthcheck.start_period'],
    })
    await converged(daemons, { 'node-exporter': 1, collector: 1 })
    const exporters = await docker.list({
      [LABELS.node]: daemons[0]!.peerId,
      [LABELS.workload]: 'node-exporter',
    })
    expect(exporters.filter((container) => container.state === 'running')).toHaveLength(1)
    await daemons[0]!.cli('rm', 'node-exporter', 'collector')
    await converged(daemons, {})
  })

  it('WordPress and its database run with the env file and environment merged, the database reading its secret, each with its named volume', async () => {
    const value = join(dirs[0]!, 'db_password.txt')
    await writeFile(value, 'wordpress-db-password')
    await runCli(['secret', 'create', 'db_password', '-f', value, '--api', daemons[0]!.api])
    const { notes } = await apply('wordpress.yaml')
    expect(ignoredBy(notes)).toEqual({
      wordpress: ['depends_on'],
    })
    // The file's value is not read from the Compose file: the note says how to create it.
    expect(notes.find((n) => n.key === 'secrets.db_password')?.reason).toContain(
      'create it once with gary secret create db_password -f db_password.txt',
    )
    await converged(daemons, { db: 1, wordpress: 1 })
    const inspected = (
      await daemons[0]!.cli<{ spec: { env: Record<string, string>; secrets: { name: string }[] } }>(
        'inspect',
        'db',
      )
    ).spec
    expect(inspected.env).toMatchObject({ MYSQL_DATABASE: 'wordpress', MYSQL_RANDOM_ROOT_PASSWORD: '1' })
    expect(inspected.secrets.map((secret) => secret.name)).toEqual(['db_password'])
    // Each node publishes its volumes within 10 s.
    await waitFor('both named volumes listed', async () => {
      const volumes = await daemons[0]!.cli<{ workload: string; name: string }[]>('volume', 'ls')
      // The voting app's database left its own volume (db/0/db-data): volumes outlive workloads.
      const names = volumes.map((v) => `${v.workload}/${v.name}`)
      return names.includes('db/db') && names.includes('wordpress/wordpress')
    })
    await daemons[0]!.cli('rm', 'db', 'wordpress')
    await converged(daemons, {})
  })
})
