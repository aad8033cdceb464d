import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { UserError } from '../errors.js'

/** Writes a file so that a crash leaves either the old or the new content, never a torn one. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, data, { mode, flush: true })
  await rename(temporary, path)
}

/** Loads this node's peer key from the data dir, creating it on first start: the peer id survives restarts. */
export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, 'peer.key')
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const key = await generateKeyPair('Ed25519')
    await writeFileAtomic(path, privateKeyToProtobuf(key))
    return key
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch {
    throw new UserError(
      `${path} is not a libp2p private key: move it away to start this node with a new identity`,
    )
  }
}

/**
 * The next incarnation: larger than every earlier one of this data dir, so receivers can tell a
 * restarted node's messages from replays of the old ones. Wall time keeps it growing even if
 * the file is lost.
 */
export async function nextIncarnation(dataDir: string, wallNow: number): Promise<number> {
  const path = join(dataDir, 'incarnation')
  let previous = 0
  try {
    previous = Number.parseInt(await readFile(path, 'utf8'), 10) || 0
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const next = Math.max(previous + 1, wallNow)
  await writeFileAtomic(path, String(next))
  return next
}
