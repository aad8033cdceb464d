import { isIP } from 'node:net'
import { formatIssues, scanYaml } from '@gary/protocol'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { readFileBounded } from '../data-dir/bounded-read.js'
import { ConfigError } from '../errors.js'
import { isLoopbackAddress } from './loopback.js'
import { type DaemonConfig, DEFAULTS, SETTING_LIST, type Settings } from './settings.js'

export {
  type DaemonConfig,
  DEFAULTS,
  parseLabels,
  SETTING_LIST,
  SETTINGS,
  type Settings,
} from './settings.js'

/** The config file's schema: every key of the settings table, and no other. */
const SettingsSchema = z.strictObject(
  Object.fromEntries(SETTING_LIST.map(({ key, def }) => [key, def.schema.optional()])),
)

/** Settings from `GARY_*` environment variables (lists comma-separated). */
export function settingsFromEnv(env: NodeJS.ProcessEnv): Settings {
  const settings: Record<string, string> = {}
  for (const { key, env: name } of SETTING_LIST) {
    const value = env[name]
    if (value !== undefined && value !== '') settings[key] = value
  }
  return settings
}

const MAX_CONFIG_FILE_BYTES = 1024 * 1024

/** Settings from a YAML or JSON config file. */
export async function settingsFromFile(path: string): Promise<Settings> {
  let text: string
  try {
    text = (await readFileBounded(path, MAX_CONFIG_FILE_BYTES)).toString('utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  // The YAML parser recurses once per level of nesting: a settings file has two.
  if (scanYaml(text, { maxDepth: 16, maxDocuments: 1 }).tooDeepAt !== undefined)
    throw new ConfigError(`config file ${path} nests deeper than a settings file can`)
  let parsed: unknown
  try {
    parsed = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`)
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigError(`config file ${path} must hold a map of settings`)
  return parsed as Settings
}

/**
 * Merges settings, later sources winning (file, then environment, then flags), over the defaults,
 * and checks the result. Every problem is listed, with where it came from.
 */
export function resolveConfig(layers: { source: string; settings: Settings }[]): DaemonConfig {
  const config = structuredClone(DEFAULTS)
  const problems: string[] = []
  for (const { source, settings } of layers) {
    // A bad setting must not hide the others: report it, and still apply and check the rest.
    const { data, issues } = parseSettings(settings)
    if (issues !== undefined) problems.push(`${source}: ${issues}`)
    for (const problem of applySettings(config, data)) problems.push(`${source}: ${problem}`)
  }
  problems.push(...checkConfig(config))
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`)
  return config
}

/** The valid part of a layer, and what is wrong with the rest. */
function parseSettings(settings: Settings): { data: Record<string, unknown>; issues?: string } {
  const result = SettingsSchema.safeParse(settings)
  if (result.success) return { data: result.data }
  const bad = new Set<string>()
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) bad.add(key)
    else if (issue.path[0] !== undefined) bad.add(String(issue.path[0]))
  }
  const rest = Object.fromEntries(Object.entries(settings).filter(([key]) => !bad.has(key)))
  const again = SettingsSchema.safeParse(rest)
  return { data: again.success ? again.data : {}, issues: formatIssues(result.error.issues) }
}

/** Applies one layer's checked settings; returns what could not be understood. */
function applySettings(config: DaemonConfig, data: Record<string, unknown>): string[] {
  const fields = config as Record<string, unknown>
  const problems: string[] = []
  for (const { key, def, field } of SETTING_LIST) {
    const value = data[key]
    if (value === undefined) continue
    try {
      const converted = def.convert === undefined ? value : def.convert(value)
      const earlier = fields[field]
      fields[field] =
        def.merge === undefined || earlier === undefined ? converted : def.merge(earlier, converted)
    } catch (err) {
      problems.push(...(err as Error).message.split('\n'))
    }
  }
  return problems
}

function checkConfig(config: DaemonConfig): string[] {
  const problems: string[] = []
  try {
    const { host } = parseHostPort(config.api)
    // A name is resolved when the API starts (ApiServer.checkExposure); an address is judged here.
    if (isIP(host) !== 0 && !isLoopbackAddress(host) && !hasApiToken(config)) {
      problems.push(
        `api: binding ${config.api} beyond loopback needs an API token (--api-token-file FILE or GARY_API_TOKEN)`,
      )
    }
  } catch (err) {
    problems.push((err as Error).message)
  }
  if (config.metrics !== undefined) {
    try {
      const { host } = parseHostPort(config.metrics, 'metrics')
      if (isIP(host) !== 0 && !isLoopbackAddress(host) && !hasApiToken(config))
        problems.push(
          `metrics: binding ${config.metrics} beyond loopback needs an API token (--api-token-file FILE or GARY_API_TOKEN)`,
        )
    } catch (err) {
      problems.push((err as Error).message)
    }
  }
  if (config.apiToken !== undefined && config.apiTokenFile !== undefined) {
    problems.push('apiToken: give the API token once, as a token or as a file, not both')
  }
  if (!(config.heartbeatMs < config.suspectAfterMs && config.suspectAfterMs < config.deadAfterMs)) {
    problems.push(
      `timing: heartbeat (${config.heartbeatMs} ms) < suspect-after (${config.suspectAfterMs} ms) < dead-after (${config.deadAfterMs} ms) must hold`,
    )
  }
  return problems
}

export function parseHostPort(text: string, setting = 'api'): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text)
  const port = Number(match?.[2])
  if (match === null || port > 65535)
    throw new ConfigError(`${setting}: "${text}" is not host:port (like 127.0.0.1:7947)`)
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
}

/** Whether the API demands a token (given directly or as a file). */
export function hasApiToken(config: Pick<DaemonConfig, 'apiToken' | 'apiTokenFile'>): boolean {
  return config.apiToken !== undefined || config.apiTokenFile !== undefined
}
