import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli } from '../src/testing/index.js'

const run = promisify(execFile)
let dir: string
const scripts: Record<string, string> = {}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gary-completion-'))
  for (const shell of ['bash', 'zsh', 'fish']) {
    scripts[shell] = join(dir, `gary.${shell}`)
    await writeFile(scripts[shell]!, await runCli(['completion', shell]))
  }
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** What bash offers when TAB is pressed after `words` (the last one being typed). */
async function bash(...words: string[]): Promise<string[]> {
  const script = `source "${scripts.bash}"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _gary; printf '%s\\n' "\${COMPREPLY[@]}"`
  const { stdout } = await run('bash', ['-c', script])
  return stdout.split('\n').filter((line) => line !== '')
}

/** What fish offers for this command line. */
async function fish(line: string): Promise<string[]> {
  const { stdout } = await run('fish', ['-c', `source "${scripts.fish}"; complete -C '${line}'`])
  return stdout
    .split('\n')
    .filter((entry) => entry !== '')
    .map((entry) => entry.split('\t')[0]!)
}

describe('gary completion', () => {
  test('bash completes commands, subcommands, flags and flag values', async () => {
    expect(await bash('gary', 'da')).toEqual(['daemon'])
    expect(await bash('gary', 'node', '')).toEqual(expect.arrayContaining(['ls', 'inspect']))
    expect(await bash('gary', 'daemon', '--runtime', '')).toEqual(['docker', 'fake'])
    expect(await bash('gary', 'daemon', '--heartbeat')).toEqual(['--heartbeat-ms'])
    expect(await bash('gary', 'node', 'ls', '--j')).toEqual(['--json'])
    expect(await bash('gary', 'completion', '')).toEqual(['bash', 'zsh', 'fish', '-h', '--help'])
  })

  test('fish completes commands, subcommands, flags and flag values', async () => {
    expect(await fish('gary da')).toEqual(['daemon'])
    expect((await fish('gary node ')).sort()).toEqual(['ban', 'inspect', 'ls', 'unban'])
    expect(await fish('gary daemon --runtime ')).toEqual(['docker', 'fake'])
    expect(await fish('gary apply --js')).toEqual(['--json'])
    expect(await fish('gary completion ')).toEqual(['bash', 'fish', 'zsh'])
  })

  test('the zsh script parses, and offers the same flags and values', async () => {
    await run('zsh', ['-n', scripts.zsh!])
    const { stdout } = await run('zsh', [
      '-c',
      `compdef() { :; }; source "${scripts.zsh}"; whence -w _gary _gary_daemon _gary_node_ls`,
    ])
    expect(stdout).toBe('_gary: function\n_gary_daemon: function\n_gary_node_ls: function\n')
    const script = await runCli(['completion', 'zsh'])
    expect(script).toContain("'--runtime[")
    expect(script).toContain(':value:(docker fake)')
  })

  test('an unknown shell is refused with the choices', async () => {
    await expect(runCli(['completion', 'tcsh'])).rejects.toThrow(/bash, zsh, fish/)
  })
})
