import { readFile } from 'node:fs/promises'
import { describe, expect, test } from 'vitest'
import { DEFAULTS, resolveConfig, SETTING_LIST, settingsFromEnv } from '../src/config/config.js'
import { settingsMarkdownTable } from '../src/config/settings-table.js'

const README = new URL('../../../README.md', import.meta.url)

describe('the settings table', () => {
  test("README's table of daemon settings is the one the settings table renders", async () => {
    const lines = (await readFile(README, 'utf8')).split('\n')
    const start = lines.indexOf('| flag | env | default | meaning |')
    expect(start, 'README.md has no "| flag | env | default | meaning |" table').toBeGreaterThan(0)
    const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'))
    const readme = lines.slice(start, end).join('\n')
    // On a mismatch, the expected side is the table to paste into README.md.
    expect(readme).toBe(settingsMarkdownTable())
  })

  test('flags and environment variables are unique, and each setting is read from its variable', () => {
    const flags = SETTING_LIST.map((s) => s.flag)
    const envs = SETTING_LIST.map((s) => s.env)
    expect(new Set(flags).size).toBe(flags.length)
    expect(new Set(envs).size).toBe(envs.length)
    for (const { key, env } of SETTING_LIST) {
      expect(Object.keys(settingsFromEnv({ [env]: 'x' }))).toEqual([key])
    }
  })

  test('every default is valid as a setting: with nothing said, the config is the defaults', () => {
    expect(resolveConfig([])).toEqual(DEFAULTS)
  })
})

describe('the systemd example', () => {
  test("examples/systemd/gary.yaml is a valid config: every key a setting's", async () => {
    const { settingsFromFile } = await import('../src/config/config.js')
    const path = new URL('../../../examples/systemd/gary.yaml', import.meta.url).pathname
    const config = resolveConfig([{ source: path, settings: await settingsFromFile(path) }])
    expect(config).toMatchObject({ dataDir: '/var/lib/gary', clusterKey: '/etc/gary/cluster.key' })
  })
})
