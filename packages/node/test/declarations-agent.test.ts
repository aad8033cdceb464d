import {
  banName,
  compareDeclVersions,
  type DeclEntry,
  normaliseWorkload,
  type Workload,
} from '@gary/protocol'
import { describe, expect, test } from 'vitest'
import { Rejection } from '../src/net/rejections.js'
import { declarationsRig } from './agent-rig.js'

function workload(name: string): Workload {
  const parsed = normaliseWorkload({ name, image: 'app:1', replicas: 1 })
  if (!parsed.ok) throw new Error(parsed.problems.join('; '))
  return parsed.workloads[0] as Workload
}

const written = (origin: string, name: string, wall: number): DeclEntry => ({
  name,
  version: { hlc: { wall, logical: 0 }, origin },
  deleted: false,
  workload: workload(name),
})

describe('anti-entropy', () => {
  test('until it first agrees with a peer, a node pulls at the first differing digest', () => {
    const { agent, port } = declarationsRig()
    agent.check('p', 'theirs', 0)
    expect(port.of('pull declarations').map((call) => call.peer)).toEqual(['p'])
  })

  test('once it has agreed with a peer, a differing digest waits a second before a pull', () => {
    const { agent, port } = declarationsRig()
    agent.check('p', agent.digest, 0)
    agent.check('q', 'theirs', 100)
    agent.check('q', 'theirs', 1099)
    expect(port.of('pull declarations')).toHaveLength(0)
    agent.check('q', 'theirs', 1100)
    expect(port.of('pull declarations').map((call) => call.peer)).toEqual(['q'])
  })

  test('a completed pull counts as caught up, and one peer is pulled at most once a second', () => {
    const { agent, port } = declarationsRig()
    agent.check('p', 'theirs', 0)
    port.answer(port.of('pull declarations', 'p')[0], [written('p', 'web', 1)])
    expect(agent.store.get('web')?.workload?.name).toBe('web')
    agent.check('p', 'other', 500)
    expect(port.of('pull declarations'), 'caught up: the mismatch must last').toHaveLength(1)
    agent.check('p', 'other', 1500)
    agent.check('p', 'other', 1600)
    expect(port.of('pull declarations')).toHaveLength(2)
  })

  test('a peer whose digest is not known yet is nothing to compare, and no agreement', () => {
    const { agent, port } = declarationsRig()
    agent.check('p', undefined, 0)
    agent.check('q', 'theirs', 0)
    expect(port.of('pull declarations').map((call) => call.peer)).toEqual(['q'])
  })
})

describe('gossip', () => {
  test('takes writes gossiped by their own origin, keeps them, and ignores them the second time', () => {
    const { agent, port } = declarationsRig()
    expect(agent.gossiped('p', [written('p', 'web', 1)])).toBe('accept')
    expect(port.of('changed')).toHaveLength(1)
    expect(agent.gossiped('p', [written('p', 'web', 1)])).toBe('ignore')
    expect(port.of('changed')).toHaveLength(1)
  })

  test('rejects a message with any write under another name, and takes none of it', () => {
    const { agent, port } = declarationsRig()
    expect(agent.gossiped('p', [written('p', 'web', 1), written('q', 'db', 1)])).toBe('reject')
    expect(agent.rejections.counts()).toEqual({ [Rejection.DeclarationsUnderAnotherName]: 1 })
    expect(agent.store.entries()).toEqual([])
    expect(port.of('changed')).toHaveLength(0)
  })

  test('a write made after a restart is newer than every write loaded within the clock bound', () => {
    const { agent, clock } = declarationsRig('self')
    const ahead = clock.wallNow() + 400
    agent.store.merge(written('p', 'web', ahead))
    agent.restored()
    const version = agent.nextVersion()
    expect(compareDeclVersions(version, { hlc: { wall: ahead, logical: 0 }, origin: 'p' })).toBeGreaterThan(0)
  })

  test('a write loaded from disk a minute ahead is kept, but does not drag the clock along', () => {
    const { agent, clock } = declarationsRig('self')
    agent.store.merge(written('p', 'web', clock.wallNow() + 60_000))
    agent.restored()
    expect(agent.store.get('web')?.version.origin).toBe('p')
    expect(agent.nextVersion().hlc.wall).toBe(clock.wallNow())
  })

  test('refuses gossip stamped further ahead than the bound, and takes the rest', () => {
    const { agent, clock } = declarationsRig('self')
    const verdict = agent.gossiped('p', [
      written('p', 'web', clock.wallNow() + 60_000),
      written('p', 'db', clock.wallNow() + 100),
    ])
    expect(verdict).toBe('accept')
    expect(agent.rejections.counts()).toEqual({ [Rejection.TimestampAhead]: 1 })
    expect(agent.store.get('web')).toBeUndefined()
    expect(agent.store.get('db')?.version.origin).toBe('p')
  })

  test("ignores a banned member's writes, gossiped or pulled, its own ban's lifting among them", () => {
    const { agent, port, clock } = declarationsRig('self')
    const ban: DeclEntry = {
      name: banName('p'),
      version: { hlc: { wall: 1, logical: 0 }, origin: 'q' },
      deleted: false,
    }
    expect(agent.gossiped('q', [ban])).toBe('accept')
    expect(agent.gossiped('p', [written('p', 'web', clock.wallNow())])).toBe('ignore')
    const lift: DeclEntry = {
      name: banName('p'),
      version: { hlc: { wall: 2, logical: 0 }, origin: 'p' },
      deleted: true,
    }
    agent.pull('r')
    port.answer(port.of('pull declarations', 'r')[0], [written('p', 'db', clock.wallNow()), lift])
    expect(agent.store.get('web')).toBeUndefined()
    expect(agent.store.get('db')).toBeUndefined()
    expect(agent.store.banned()).toEqual(['p'])
    expect(agent.rejections.counts()).toEqual({ [Rejection.DeclarationByBanned]: 3 })
  })

  test('ignores a member lifting its own ban, though its ban has not arrived yet', () => {
    const { agent } = declarationsRig('self')
    const lift: DeclEntry = {
      name: banName('p'),
      version: { hlc: { wall: 2, logical: 0 }, origin: 'p' },
      deleted: true,
    }
    expect(agent.gossiped('p', [lift])).toBe('ignore')
    expect(agent.store.get(banName('p'))).toBeUndefined()
    expect(agent.rejections.counts()).toEqual({ [Rejection.OwnBanLifted]: 1 })
  })
})
