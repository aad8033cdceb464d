// Rewrites README.md's table of daemon settings from the settings table
// (packages/node/src/config/settings.ts). Run after `npx tsc -b`; a test checks the two agree.
import { readFileSync, writeFileSync } from 'node:fs'
import { settingsMarkdownTable } from '../packages/node/dist/config/settings-table.js'

const readme = new URL('../README.md', import.meta.url)
const lines = readFileSync(readme, 'utf8').split('\n')
const start = lines.indexOf('| flag | env | default | meaning |')
if (start < 0) throw new Error('README.md has no "| flag | env | default | meaning |" table')
const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'))
lines.splice(start, end - start, settingsMarkdownTable())
writeFileSync(readme, lines.join('\n'))
