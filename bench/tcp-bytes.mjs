import { execFileSync } from 'node:child_process'

/** Kernel TCP byte counters summed over each process's established sockets: pid -> {sent, received}. */
export function tcpBytesByPid() {
  const out = execFileSync('ss', ['-tinpH', 'state', 'established'], { encoding: 'utf8' })
  const totals = new Map()
  let pid
  for (const line of out.split('\n')) {
    const owner = /pid=(\d+)/.exec(line)
    if (owner) pid = Number(owner[1])
    const sent = /bytes_sent:(\d+)/.exec(line)
    const received = /bytes_received:(\d+)/.exec(line)
    if (pid !== undefined && (sent || received)) {
      const total = totals.get(pid) ?? { sent: 0, received: 0 }
      total.sent += Number(sent?.[1] ?? 0)
      total.received += Number(received?.[1] ?? 0)
      totals.set(pid, total)
    }
  }
  return totals
}
