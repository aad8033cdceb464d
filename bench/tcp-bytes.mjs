import { execFileSync } from 'node:child_process'

/**
 * Kernel TCP byte counters summed over each process's established sockets: pid -> {sent, received}.
 * Sockets whose local port is in `skipPorts` (the daemons' API ports: the benchmark's own requests
 * and their answers) are left out, so that the bytes are the cluster's traffic alone.
 */
export function tcpBytesByPid(skipPorts = new Set()) {
  const out = execFileSync('ss', ['-tinpH', 'state', 'established'], { encoding: 'utf8' })
  const totals = new Map()
  let pid
  let skip = false
  for (const line of out.split('\n')) {
    const owner = /pid=(\d+)/.exec(line)
    if (owner) {
      pid = Number(owner[1])
      const local = line.trim().split(/\s+/)[2] ?? ''
      skip = skipPorts.has(Number(local.slice(local.lastIndexOf(':') + 1)))
    }
    const sent = /bytes_sent:(\d+)/.exec(line)
    const received = /bytes_received:(\d+)/.exec(line)
    if (pid !== undefined && !skip && (sent || received)) {
      const total = totals.get(pid) ?? { sent: 0, received: 0 }
      total.sent += Number(sent?.[1] ?? 0)
      total.received += Number(received?.[1] ?? 0)
      totals.set(pid, total)
    }
  }
  return totals
}

/** The local ports of the daemons' APIs (`host:port`), for `tcpBytesByPid`. */
export const apiPorts = (daemons) =>
  new Set(daemons.map((d) => Number(d.api.slice(d.api.lastIndexOf(':') + 1))))
