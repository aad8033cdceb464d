import { execFile } from 'node:child_process'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * A real small file system for disk-full and read-only probes: a tmpfs of `size` (like `2m`)
 * mounted on `dir` (needs root, as the tests run here). Unmount with `unmountSmallFs`.
 */
export async function mountSmallFs(dir: string, size: string): Promise<void> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir])
  } catch (err) {
    throw new Error(`cannot mount a tmpfs on ${dir} (these tests need root): ${(err as Error).message}`)
  }
}

export async function unmountSmallFs(dir: string): Promise<void> {
  await run('umount', ['-l', dir]).catch(() => {})
}

export async function remount(dir: string, mode: 'ro' | 'rw'): Promise<void> {
  await run('mount', ['-o', `remount,${mode}`, dir])
}

/** Fills the file system holding `dir` until a write fails with ENOSPC; returns the filler's path. */
export async function fillUp(dir: string): Promise<string> {
  const path = join(dir, 'filler')
  const file = await open(path, 'w')
  try {
    for (const size of [1 << 16, 1 << 12, 1]) {
      const chunk = Buffer.alloc(size, 0x61)
      for (;;) {
        try {
          await file.write(chunk)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break
          throw err
        }
      }
    }
  } finally {
    await file.close().catch(() => {})
  }
  return path
}
