import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NodeView, WorkloadRow } from '../packages/node/src/api/routes.js'
import type { SlotRow } from '../packages/node/src/api/slot-rows.js'
import { readClusterKey } from '../packages/node/src/net/cluster-key.js'
import { Gossip } from '../packages/node/src/net/gossip.js'
import { clusterNames } from '../packages/node/src/net/names.js'
import { createP2P, type P2P } from '../packages/node/src/net/p2p.js'
import { Rejection } from '../packages/node/src/net/rejections.js'
import { cleanup, DaemonProcess, runCli, waitFor } from '../packages/node/src/testing/index.js'
import {
  type DeclEntry,
  encodeDeclEntries,
  encodeNodeState,
  type Hlc,
  type NodeState,
  parseWorkloadFile,
} from '../packages/protocol/src/index.js'

const DECL_TOPIC = clusterNames('default').topics.declarations
const STATE_TOPIC = clusterNames('default').topics.state
const YEAR_MS = 365 * 24 * 3600 * 1000

const spec = (name: string, image: string) => `name: ${name}\nimage: ${image}\n`

function entry(name: string, image: string, origin: string, hlc: Hlc): DeclEntry {
  const parsed = parseWorkloadFile(spec(name, image))
  if (!parsed.ok) throw new Error(parsed.problems.join('; '))
  return { name, version: { hlc, origin }, deleted: false, workload: parsed.workloads[0]! }
}

/** The image each workload has on a node, by name, as `gary get` lists them. */
async function images(daemon: DaemonProcess): Promise<Record<string, string>> {
  const rows = await daemon.cli<WorkloadRow[]>('get')
  return Object.fromEntries(rows.map((row) => [row.name, row.image]))
}

/**
 * Members holding the cluster key whose clocks lie: a libp2p peer in this process that gossips
 * declarations stamped with the largest timestamp and with one a year ahead, and a daemon whose
 * clock runs a year ahead.
 */
describe('wrong clocks and out-of-range values, over real connections', () => {
  const daemons: DaemonProcess[] = []
  const dirs: string[] = []
  let clusterKey: string
  let a: DaemonProcess
  let b: DaemonProcess
  let attacker: P2P
  let gossip: Gossip
  let files: string

  const apply = async (daemon: DaemonProcess, name: string, image: string) => {
    const path = join(files, `${name}-${image.replace(/\W/g, '-')}.yaml`)
    await writeFile(path, spec(name, image))
    return daemon.cli<{ name: string; outcome: string }[]>('apply', '-f', path)
  }
  const start = async (options: {
    join?: string[]
    wallOffsetMs?: number
    dir?: string
    args?: string[]
  }) => {
    const dir = options.dir ?? (await DaemonProcess.tempDir())
    if (options.dir === undefined) dirs.push(dir)
    const daemon = new DaemonProcess({
      dataDir: dir,
      join: options.join,
      ...(options.wallOffsetMs === undefined ? {} : { testHooks: { wallOffsetMs: options.wallOffsetMs } }),
      args: ['--cluster-key', clusterKey, ...(options.args ?? [])],
    })
    daemons.push(daemon)
    return daemon.start()
  }

  beforeAll(async () => {
    files = await DaemonProcess.tempDir('gary-clock-')
    dirs.push(files)
    clusterKey = join(files, 'cluster.key')
    await writeFile(clusterKey, await runCli(['keygen']))
    a = await start({ args: ['--log-level', 'debug'] })
    b = await start({ join: [a.joinAddr] })
    attacker = await createP2P({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      clusterKey: await readClusterKey(clusterKey),
      allow: [],
    })
    gossip = new Gossip(attacker.services.pubsub)
    gossip.subscribe(DECL_TOPIC, () => 'accept')
    gossip.subscribe(STATE_TOPIC, () => 'accept')
    await attacker.dial(multiaddr(a.joinAddr))
    await waitFor('A to list B alive', async () =>
      (await a.cli<NodeView[]>('nodes')).some((node) => node.id === b.peerId && node.state === 'alive'),
    )
    await waitFor(
      'the attacker to be in A’s meshes',
      () => gossip.meshPeers(DECL_TOPIC) > 0 && gossip.meshPeers(STATE_TOPIC) > 0,
    )
  })

  afterAll(async () => {
    await attacker?.stop()
    await cleanup(daemons, dirs)
  })

  it('refuses the largest timestamp and one a year ahead: get answers, honest writes spread and win, a restart loses nothing', async () => {
    const me = attacker.peerId.toString()
    await apply(b, 'before', 'gary/honest:1')
    await waitFor('A to hold B’s first write', async () => (await images(a)).before === 'gary/honest:1')

    const largest = { wall: Number.MAX_SAFE_INTEGER, logical: Number.MAX_SAFE_INTEGER }
    await gossip.publish(DECL_TOPIC, encodeDeclEntries([entry('max', 'gary/evil:max', me, largest)]))
    const sent = Date.now()
    await gossip.publish(
      DECL_TOPIC,
      encodeDeclEntries([entry('clash', 'gary/evil:ahead', me, { wall: sent + YEAR_MS, logical: 0 })]),
    )
    // A judges the second message (after the first: one stream carries both) one way or the
    // other; either way it then has to keep working.
    await waitFor('A to judge the attacker’s declarations', () =>
      a.logs.some(
        (line) =>
          (line.msg === 'refused a timestamp too far ahead' && line.peer === me) ||
          (line.msg === 'declaration received' && line.origin === me && line.workload === 'clash'),
      ),
    )

    for (const daemon of [a, b]) {
      const held = await images(daemon)
      expect(held, 'gary get answers and lists no declaration from the future').toEqual({
        before: 'gary/honest:1',
      })
    }

    // Later honest writes spread and win: B writes the name the attacker stamped a year ahead.
    expect(await apply(b, 'clash', 'gary/honest:2')).toMatchObject([{ name: 'clash', outcome: 'created' }])
    expect(await apply(b, 'after', 'gary/honest:3')).toMatchObject([{ name: 'after', outcome: 'created' }])
    const expected = { before: 'gary/honest:1', clash: 'gary/honest:2', after: 'gary/honest:3' }
    await waitFor('A to hold B’s later writes', async () => isDeepStrictEqual(await images(a), expected))

    // The refusal names the peer and how far ahead its clock was.
    const refusal = a.logs.find(
      (line) => line.msg === 'refused a timestamp too far ahead' && line.peer === me,
    )
    expect(refusal, 'A logs the refusal with the peer').toBeDefined()
    expect(refusal!.aheadMs as number).toBeGreaterThan(YEAR_MS - 60_000)

    // A restart keeps every write: B reads its own file before it hears anyone.
    await b.kill('SIGTERM')
    await start({ dir: b.options.dataDir, join: [a.joinAddr] })
    daemons.splice(daemons.indexOf(b), 1)
    b = daemons.at(-1)!
    expect(b.hasLog('declarations file is unreadable: moved aside, starting empty')).toBe(false)
    expect(await images(b)).toEqual(expected)
  })

  it('a promise stamped past any date is refused: gary ps keeps answering', async () => {
    const me = attacker.peerId.toString()
    const state = (seq: number, since: Hlc): NodeState => ({
      node: me,
      incarnation: 1,
      seq,
      addrs: [],
      labels: { seq: String(seq) },
      capacity: { cpuMillis: 1000, memoryBytes: 2 ** 30 },
      draining: false,
      promises: [
        { workload: 'before', slot: 0, generation: 'g', phase: 'running', since, ready: true, endpoints: [] },
      ],
      refusals: [],
    })
    await gossip.publish(STATE_TOPIC, encodeNodeState(state(1, { wall: Date.now(), logical: 0 })))
    await waitFor('A to list the attacker', async () =>
      (await a.cli<NodeView[]>('nodes')).some((node) => node.id === me),
    )
    await gossip.publish(
      STATE_TOPIC,
      encodeNodeState(state(2, { wall: Number.MAX_SAFE_INTEGER, logical: Number.MAX_SAFE_INTEGER })),
    )
    await waitFor('A to judge the state', () =>
      a.logs.some(
        (line) =>
          (line.code === Rejection.StateMalformed && line.from === me) ||
          (line.msg === 'member updated' && line.member === me && line.seq === 2),
      ),
    )
    for (const daemon of [a, b]) expect(await daemon.cli<SlotRow[]>('ps')).toBeInstanceOf(Array)
  })

  it('a daemon whose clock runs a year ahead says so and refuses writes; what it wrote alone does not win', async () => {
    const skewed = YEAR_MS
    // Alone, it cannot tell that its clock is wrong, and takes a write stamped a year ahead.
    let d = await start({ wallOffsetMs: skewed })
    expect(await apply(d, 'late', 'gary/skewed:1')).toMatchObject([{ name: 'late', outcome: 'created' }])
    await d.kill('SIGTERM')
    daemons.splice(daemons.indexOf(d), 1)
    d = await start({ dir: d.options.dataDir, join: [a.joinAddr], wallOffsetMs: skewed })

    const far = await waitFor('D to say its clock is far from its peers', () =>
      d.logs.find((line) => line.msg === 'clock far from peers: refusing writes'),
    )
    expect(far.medianOffsetMs as number).toBeLessThan(-YEAR_MS + 60_000)
    await writeFile(join(files, 'later.yaml'), spec('later', 'gary/skewed:2'))
    const err = await runCli(['apply', '-f', join(files, 'later.yaml'), '--api', d.api]).then(
      () => 'accepted',
      (e: { stderr: string }) => e.stderr,
    )
    expect(err).toMatch(
      /^gary: this node's clock is 365 days ahead of its peers' .*: it refuses writes until its clock is fixed\n$/,
    )

    // The others keep writing, refuse what D wrote a year ahead, and name it.
    await waitFor('A to refuse D’s write a year ahead', () =>
      a.logs.find((line) => line.msg === 'refused a timestamp too far ahead' && line.peer === d.peerId),
    )
    expect(await apply(a, 'late', 'gary/honest:4')).toMatchObject([{ name: 'late', outcome: 'created' }])
    for (const daemon of [a, b])
      await waitFor(
        `${daemon === a ? 'A' : 'B'} to hold A’s write`,
        async () => (await images(daemon)).late === 'gary/honest:4',
      )
    expect((await images(a)).later).toBeUndefined()
    for (const daemon of [a, b])
      expect(daemon.logs.some((line) => line.msg === 'clock far from peers: refusing writes')).toBe(false)
  })

  it('refuses to start, in one sentence, from an incarnation file that leaves no room to restart', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    await writeFile(join(dir, 'incarnation'), String(Number.MAX_SAFE_INTEGER))
    const daemon = new DaemonProcess({
      dataDir: dir,
      join: [a.joinAddr],
      args: ['--cluster-key', clusterKey],
    })
    daemons.push(daemon)
    const failed = await daemon.start().then(
      () => undefined,
      (err: Error) => err.message,
    )
    expect(failed, 'the daemon refuses to start').toMatch(/incarnation.*9007199254740991/)

    // One below the limit still starts, and its peers see it alive: no node is silently invisible.
    await writeFile(join(dir, 'incarnation'), String(Number.MAX_SAFE_INTEGER - 1))
    await daemon.start()
    await waitFor('A to list the node alive', async () =>
      (await a.cli<NodeView[]>('nodes')).some((node) => node.id === daemon.peerId && node.state === 'alive'),
    )
  })

  it('refuses to start, in one sentence, when its own state would be out of the codec’s range', async () => {
    const dir = await DaemonProcess.tempDir()
    dirs.push(dir)
    // A label key the flag takes but the codec refuses (`--memory` past 1Pi is refused by the flag itself).
    const daemon = new DaemonProcess({ dataDir: dir, join: [a.joinAddr], args: ['--label', 'bad key=1'] })
    daemons.push(daemon)
    const failed = await daemon.start().then(
      () => undefined,
      (err: Error) => err.message,
    )
    expect(failed, 'the daemon refuses to start').toMatch(
      /this node's state would be refused by every peer \(labels\.bad key: .*\): fix the setting it comes from/,
    )
  })
})
