import { generateKey } from '@libp2p/pnet'
import { readFileBounded } from '../data-dir/bounded-read.js'
import { ClusterKeyError } from '../errors.js'

const PSK_FORMAT = /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-fA-F]{64}\s*$/

/** A new random cluster key in the libp2p private network format, for `gary keygen`. */
export function generateClusterKey(): Uint8Array {
  const key = new Uint8Array(95)
  generateKey(key)
  return key
}

/** Reads and checks a cluster key file: every node of a cluster must hold the same one. */
export async function readClusterKey(path: string): Promise<Uint8Array> {
  let bytes: Buffer
  try {
    // A key file is 95 bytes; a bound keeps `--cluster-key /dev/zero` from filling the memory.
    bytes = await readFileBounded(path, 4096)
  } catch (err) {
    throw new ClusterKeyError(`cannot read cluster key ${path}: ${(err as Error).message}`)
  }
  if (!PSK_FORMAT.test(bytes.toString('utf8'))) {
    throw new ClusterKeyError(`${path} is not a cluster key: make one with \`gary keygen > cluster.key\``)
  }
  return new Uint8Array(bytes)
}

/** The 32 bytes of key in a cluster key file (checked by `readClusterKey`). */
export function clusterKeyBytes(file: Uint8Array): Uint8Array {
  const hex = Buffer.from(file).toString('utf8').trim().split('\n').at(-1) ?? ''
  return new Uint8Array(Buffer.from(hex, 'hex'))
}
