import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { incarnationAfter } from '@gary/protocol'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { IncarnationError, UserError } from '../errors.js'
import type { Logger } from '../logger.js'
import { FileTooLargeError, readFileBounded } from './bounded-read.js'
import { writeFileDurable } from './durable-file.js'

/** Writes a file so that a crash leaves either the old or the new content, never a torn one. */
export const writeFileAtomic = writeFileDurable

/** Loads this node's peer key from the data dir, creating it on first start: the peer id survives restarts. */
export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, 'peer.key')
  let bytes: Uint8Array
  try {
    // An Ed25519 key is 68 bytes: a bound keeps a wrong file from filling the memory.
    bytes = await readFileBounded(path, 4096)
  } catch (err) {
    if (err instanceof FileTooLargeError)
      throw new UserError(
        `${path} is not a libp2p private key: move it away to start this node with a new identity`,
      )
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
 * The next incarnation (`incarnationAfter`), written back to the data dir before the node says
 * anything. A file it cannot start from stops the start with one sentence; a repair is logged.
 */
export async function nextIncarnation(dataDir: string, wallNow: number, logger?: Logger): Promise<number> {
  const path = join(dataDir, 'incarnation')
  let text: string | undefined
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const next = incarnationAfter(text, wallNow)
  if (!next.ok)
    throw new IncarnationError(`${path} ${next.reason}: delete it to start again from the wall clock`)
  if (next.repaired !== undefined)
    logger?.warn(
      { path, incarnation: next.incarnation, problem: next.repaired },
      'incarnation file holds no number: starting from the wall clock',
    )
  await writeFileAtomic(path, String(next.incarnation))
  return next.incarnation
}
