import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeEach, describe, expect, test } from 'vitest'
import { FileTooLargeError, readFileBounded } from '../src/data-dir/bounded-read.js'
import { GroupCommit, removeStaleTemporaries, writeFileDurable } from '../src/data-dir/durable-file.js'

const dirs: string[] = []
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gary-durable-'))
  dirs.push(dir)
})

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

describe('writeFileDurable', () => {
  test('replaces the content, and leaves no temporary file', async () => {
    const path = join(dir, 'state')
    await writeFileDurable(path, 'one')
    await writeFileDurable(path, 'two')
    expect(await readFile(path, 'utf8')).toBe('two')
    expect(await readdir(dir)).toEqual(['state'])
  })

  test('a refused write says why in a sentence, keeps the old content and removes its temporary file', async () => {
    const path = join(dir, 'state')
    await writeFileDurable(path, 'old')
    // A directory in the file's place: the rename fails after the temporary file was written.
    const blocked = join(dir, 'blocked')
    await mkdir(join(blocked, 'inside'), { recursive: true })
    const err = await writeFileDurable(blocked, 'new').catch((e: Error) => e)
    expect(err).toMatchObject({ name: 'DataDirWriteError' })
    expect((err as Error).message).toMatch(/^cannot save blocked in /)
    expect((await readdir(dir)).sort()).toEqual(['blocked', 'state'])
    expect(await readFile(path, 'utf8')).toBe('old')
  })

  test('removeStaleTemporaries removes what a crash left, and nothing else', async () => {
    await writeFile(join(dir, 'declarations.json'), '{}')
    await writeFile(join(dir, 'declarations.json.1234.tmp'), '')
    await writeFile(join(dir, 'incarnation.99.tmp'), '1')
    await writeFile(join(dir, 'notes.tmp'), 'mine')
    expect((await removeStaleTemporaries(dir)).sort()).toEqual([
      'declarations.json.1234.tmp',
      'incarnation.99.tmp',
    ])
    expect((await readdir(dir)).sort()).toEqual(['declarations.json', 'notes.tmp'])
  })
})

describe('GroupCommit', () => {
  /** A write that waits until released, recording what each write carried. */
  function gatedWriter() {
    const writes: number[][] = []
    const releases: ((err?: Error) => void)[] = []
    const commit = new GroupCommit<number>(
      (items) =>
        new Promise<void>((resolve, reject) => {
          writes.push([...items])
          releases.push((err) => (err === undefined ? resolve() : reject(err)))
        }),
    )
    const release = async (err?: Error) => {
      await new Promise((resolve) => setImmediate(resolve))
      releases.shift()?.(err)
      await new Promise((resolve) => setImmediate(resolve))
    }
    return { commit, writes, release }
  }

  test('callers arriving during a write share the next one, and resolve after it', async () => {
    const { commit, writes, release } = gatedWriter()
    const settled: string[] = []
    const first = commit.commit([1]).then(() => settled.push('first'))
    const second = commit.commit([2]).then(() => settled.push('second'))
    const third = commit.commit([3]).then(() => settled.push('third'))
    await release()
    // The first write was under way when the others came: they wait for the next.
    expect(settled).toEqual(['first'])
    await release()
    await Promise.all([first, second, third])
    expect(writes).toEqual([[1], [2, 3]])
    expect(settled).toEqual(['first', 'second', 'third'])
  })

  test('a failed write fails its own callers only', async () => {
    const { commit, release } = gatedWriter()
    const first = commit.commit([1]).catch((err: Error) => err.message)
    const second = commit.commit([2])
    await release(new Error('disk full'))
    expect(await first).toBe('disk full')
    await release()
    await expect(second).resolves.toBeUndefined()
  })
})

describe('readFileBounded', () => {
  test('reads a file within the bound, refuses one beyond it, and a device that never ends', async () => {
    const path = join(dir, 'small')
    await writeFile(path, 'hello')
    expect((await readFileBounded(path, 5)).toString()).toBe('hello')
    await expect(readFileBounded(path, 4)).rejects.toBeInstanceOf(FileTooLargeError)
    // stat says 0 bytes; reading it whole never ends.
    await expect(readFileBounded('/dev/zero', 4096)).rejects.toBeInstanceOf(FileTooLargeError)
  })
})
