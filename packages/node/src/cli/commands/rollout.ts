import type { RolloutStatus } from '@gary/protocol'
import type { Command } from 'commander'
import { followRollouts, parseTimeout, progressLine } from '../follow-rollout.js'
import { client, clientCommand, print, wholeNumber } from '../options.js'
import type { CommandEntry } from './index.js'

/** `gary rollout status NAME`: where a workload's rollout stands, or follow it with `--wait`. */
export function add(program: Command, entry: CommandEntry): Command {
  const rollout = program.command(entry.name).description(entry.description)
  clientCommand(rollout, {
    name: 'status',
    description: "a workload's rollout: slots updated and ready per wave; --wait follows it to the end",
  })
    .argument('<name>', 'workload name')
    .option('--revision <n>', 'the revision to follow (default: the current one)')
    .option('--wait', 'follow the rollout until it completes; exit 1 if it fails or times out')
    .option('--timeout <duration>', 'with --wait, how long to wait: 90s, 5m (default 5m)')
    .action(async (name: string, options) => {
      const api = client(options)
      const query =
        options.revision === undefined ? '' : `?revision=${wholeNumber('--revision', options.revision)}`
      const status = await api.get<RolloutStatus>(`/v1/rollout/${encodeURIComponent(name)}${query}`)
      if (options.wait === true) {
        const { ok, statuses } = await followRollouts(api, [{ name, revision: status.revision }], {
          timeoutMs: parseTimeout(options.timeout),
          json: options.json === true,
        })
        if (options.json === true) print(options, statuses[0], () => '')
        if (!ok) process.exitCode = 1
        return
      }
      print(options, status, () =>
        [`${progressLine(status)}: ${status.state}`, ...status.reasons.map((r) => `  ${r}`)].join('\n'),
      )
      if (status.state === 'failed') process.exitCode = 1
    })
  return rollout
}
