import { connect, type Socket } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'

/** A knock that found no machine answering: none of the addresses accepted a TCP connection in time. */
export class NoAnswerError extends Error {
  override name = 'NoAnswerError'
}

/**
 * Knocks at a member's machine: opens a bare TCP connection to each of its listening addresses
 * (multiaddrs; those that are not TCP are skipped) and closes it at once, sending nothing.
 * Resolves when one accepts: the machine's kernel completes the handshake whatever the process
 * is doing, so a machine that answers holds a process that is slow, not gone. Rejects when every
 * address refused, was unreachable or did not answer within `timeoutMs`. The member's libp2p sees
 * a connection closed before its handshake, which it drops without a word.
 */
export function knock(addrs: readonly string[], timeoutMs: number): Promise<void> {
  const targets = addrs.flatMap((addr) => {
    try {
      const { transport, host, port } = multiaddr(addr).toOptions()
      return transport === 'tcp' ? [{ host, port }] : []
    } catch {
      return []
    }
  })
  if (targets.length === 0) return Promise.reject(new NoAnswerError('no TCP address to knock at'))
  return new Promise((resolve, reject) => {
    const sockets: Socket[] = []
    let failed = 0
    let ended = false
    const end = (error?: Error) => {
      if (ended) return
      ended = true
      clearTimeout(timer)
      for (const socket of sockets) socket.destroy()
      if (error === undefined) resolve()
      else reject(error)
    }
    // The verdict waits for one look at the sockets (an immediate runs after the loop's poll for
    // I/O): when this node's own loop stalls past the timeout, the timer fires before the loop has
    // read the answer the kernel got meanwhile, and a live machine would be taken for a dead one.
    const timer = setTimeout(
      () => setImmediate(() => end(new NoAnswerError(`no answer within ${timeoutMs} ms`))),
      timeoutMs,
    )
    for (const target of targets) {
      const socket = connect({ ...target, noDelay: true })
      sockets.push(socket)
      socket.once('connect', () => end())
      socket.once('error', (err) => {
        if (++failed === targets.length) end(new NoAnswerError(err.message))
      })
    }
  })
}
