import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'

// The built CLI, as `npm run sim` runs it (the test command builds first).
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

function failing(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args], (err, _stdout, stderr) =>
      resolve({ code: err === null ? 0 : (err.code as number | null), stderr }),
    ),
  )
}

test.each([
  [
    ['--bogus'],
    "sim: Unknown option '--bogus' (usage: npm run sim -- --nodes 10,100 [--scenario NAME[,NAME...]] [--seed S] [--shards S|auto] [--jobs J] [--json] [--trace-loss])\n",
  ],
  [['--nodes', 'ten'], 'sim: --nodes takes whole numbers of at least 2, like 10,100\n'],
  [['--seed', 'x'], 'sim: --seed takes a whole number of at least 0, like 1\n'],
  [['--jobs', '0'], 'sim: --jobs takes a whole number of at least 1, like 2\n'],
  [
    ['--shards', '0'],
    'sim: --shards takes auto (one per 32 nodes) or a whole number from 1 to 4096, like 31\n',
  ],
  [['--scenario', 'nope'], expect.stringMatching(/^sim: unknown scenario nope \(known: cold-start, .*\)\n$/)],
])('`npm run sim -- %s` says what is wrong in one line and exits 1', async (args, message) => {
  const { code, stderr } = await failing(args)
  expect(code).toBe(1)
  expect(stderr).toEqual(message)
})
