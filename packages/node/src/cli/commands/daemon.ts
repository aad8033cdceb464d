import { type Command, Option } from 'commander'
import { z } from 'zod'
import type { DaemonConfig, Settings } from '../../config/config.js'
import { SETTING_LIST } from '../../config/settings.js'
import { collect } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary daemon`: its flags are the settings table's. */
export function add(program: Command, entry: CommandEntry): Command {
  const command = program.command(entry.name).description(entry.description)
  command.option('--config <file>', 'YAML or JSON file of settings (env GARY_CONFIG)')
  for (const { flag, env, def } of SETTING_LIST) {
    const option = new Option(
      `--${flag} <${def.arg}>`,
      flagHelp(def.help, def.defaultText, env, def.repeatable),
    )
    if (def.repeatable === true) option.argParser(collect)
    if (def.schema instanceof z.ZodEnum) option.choices(def.schema.options.map(String))
    command.addOption(option)
  }
  // For tests only, and so not listed: without it, a GARY_TEST_* fault hook stops the daemon.
  command.addOption(new Option('--test-hooks', 'allow the GARY_TEST_* fault hooks').hideHelp())
  return command.action(async (options: Record<string, unknown>) => {
    const config = await daemonConfig(command, options)
    if (options.apiToken !== undefined) {
      process.stderr.write(
        'gary: warning: --api-token shows the token to anyone who runs ps here: prefer --api-token-file FILE or GARY_API_TOKEN\n',
      )
    }
    await import('../../polyfill.js')
    const { runDaemon } = await import('../../run.js')
    await runDaemon(config, { testHooks: options.testHooks === true })
  })
}

function flagHelp(help: string, defaultText: string, env: string, repeatable = false): string {
  const plain = (text: string) => text.replace(/`/g, '')
  const extras = [`env ${env}`, ...(defaultText === 'none' ? [] : [`default ${plain(defaultText)}`])]
  return `${plain(help)}${repeatable ? ', repeatable' : ''} (${extras.join(', ')})`
}

async function daemonConfig(command: Command, options: Record<string, unknown>): Promise<DaemonConfig> {
  const { resolveConfig, settingsFromEnv, settingsFromFile } = await import('../../config/config.js')
  const flags: Record<string, unknown> = {}
  for (const { key, flag } of SETTING_LIST) {
    const option = command.options.find((o) => o.long === `--${flag}`)
    const value = option === undefined ? undefined : options[option.attributeName()]
    if (value !== undefined) flags[key] = value
  }
  const file = (options.config as string | undefined) ?? process.env.GARY_CONFIG
  return resolveConfig([
    ...(file === undefined || file === ''
      ? []
      : [{ source: `config file ${file}`, settings: await settingsFromFile(file) }]),
    { source: 'environment', settings: settingsFromEnv(process.env) },
    { source: 'flags', settings: flags as Settings },
  ])
}
