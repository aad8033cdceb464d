import { SETTING_LIST } from './settings.js'

/** The README's table of daemon settings, as the settings table says it (one Markdown row each). */
export function settingsMarkdownTable(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|')
  return [
    '| flag | env | default | meaning |',
    '| --- | --- | --- | --- |',
    ...SETTING_LIST.map(({ flag, env, def }) => {
      const meaning = `${def.help}${def.repeatable === true ? ' (repeatable)' : ''}`
      return `| \`--${flag} ${def.arg.toUpperCase()}\` | \`${env}\` | ${cell(def.defaultText)} | ${cell(meaning)} |`
    }),
  ].join('\n')
}
