import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { NAT_TABLE, natRemoval, natRuleset } from './nat-ruleset.js'

/** What this network namespace's netfilter lets the kernel mesh do. */
export type NetfilterProbe =
  | { usable: false; reason: string }
  | {
      usable: true
      /** Packets are forwarded (ip_forward on, no forward hook whose policy drops them). */
      forwarding: boolean
    }

/** The kernel's packet filter of this node's network namespace, as far as the mesh uses it. */
export interface Netfilter {
  probe(signal?: AbortSignal): Promise<NetfilterProbe>
  /** Replaces the mesh's table with this ruleset (`natRuleset`), in one transaction. */
  apply(ruleset: string, signal?: AbortSignal): Promise<void>
  /** Removes the mesh's table, if any. */
  remove(signal?: AbortSignal): Promise<void>
}

/** nft refused a ruleset, or could not run. */
export class NetfilterError extends Error {
  override name = 'NetfilterError'
}

/** Netfilter through the `nft` command: the mesh's own table only, never another one. */
export class NftNetfilter implements Netfilter {
  constructor(private readonly nft = 'nft') {}

  async probe(signal?: AbortSignal): Promise<NetfilterProbe> {
    if (process.getuid?.() !== 0) return { usable: false, reason: 'the daemon does not run as root' }
    const sample = [{ port: 1, targets: [{ host: '127.0.0.1', port: 1, local: true }] }]
    try {
      // A check runs the transaction in the kernel and aborts it: nothing changes.
      await this.#run(['-c', '-f', '-'], natRuleset(sample, { forwarding: true }), signal)
    } catch (err) {
      return { usable: false, reason: (err as Error).message }
    }
    return { usable: true, forwarding: await this.#forwarding(signal) }
  }

  async apply(ruleset: string, signal?: AbortSignal): Promise<void> {
    await this.#run(['-f', '-'], ruleset, signal)
  }

  async remove(signal?: AbortSignal): Promise<void> {
    await this.#run(['-f', '-'], natRemoval(), signal)
  }

  async #forwarding(signal?: AbortSignal): Promise<boolean> {
    const on = await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '0')
    if (on.trim() !== '1') return false
    const listed = JSON.parse(await this.#run(['-j', 'list', 'chains'], '', signal)) as {
      nftables?: { chain?: { table?: string; hook?: string; policy?: string } }[]
    }
    return !(listed.nftables ?? []).some(
      ({ chain }) => chain?.hook === 'forward' && chain.policy === 'drop' && chain.table !== NAT_TABLE,
    )
  }

  #run(args: string[], input: string, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(this.nft, args, { signal, timeout: 10_000 }, (err, stdout, stderr) => {
        if (err === null) resolve(stdout)
        else
          reject(
            new NetfilterError(
              `nft ${args.join(' ')} failed: ${(stderr.trim().split('\n')[0] ?? '') || err.message}`,
            ),
          )
      })
      // nft may exit before reading (a listing reads nothing, a refusal stops early): its exit
      // status says what happened, and a write to the closed pipe must not crash the daemon.
      child.stdin?.on('error', () => {})
      if (input === '') child.stdin?.end()
      else child.stdin?.end(input)
    })
  }
}
