import { open, readFile } from 'node:fs/promises'
import type Docker from 'dockerode'
import { DockerRuntime } from './docker.js'
import { tar } from './tar.js'

/** The image tests and the demo use; built locally, no registry needed. */
export const TEST_IMAGE = 'gary/busybox:test'

/** Commands the image offers, all links to busybox. */
export const TEST_IMAGE_APPLETS = [
  'sh',
  'sleep',
  'httpd',
  'nc',
  'echo',
  'cat',
  'ls',
  'wget',
  'env',
  'true',
  'false',
  'yes',
  'date',
  'mkdir',
  'hostname',
] as const

export interface TestImageOptions {
  /** A statically linked busybox. Default `/bin/busybox` (Debian's `busybox-static`). */
  busybox?: string
  signal?: AbortSignal
}

/**
 * Makes sure image `tag` exists in the engine: imports a root filesystem holding a static busybox
 * and its applets (`TEST_IMAGE_APPLETS`), with no registry. Idempotent: does nothing when the tag
 * exists.
 */
export async function ensureTestImage(
  runtime: DockerRuntime | Docker,
  tag = TEST_IMAGE,
  options: TestImageOptions = {},
): Promise<void> {
  const docker = runtime instanceof DockerRuntime ? runtime : new DockerRuntime({}, { docker: runtime })
  // Never pulled: a registry image of the same name would be someone else's.
  if (await docker.hasImage(tag, options.signal)) return
  const path = options.busybox ?? '/bin/busybox'
  await assertStatic(path)
  const archive = tar([
    { kind: 'dir', path: 'bin' },
    { kind: 'file', path: 'bin/busybox', data: await readFile(path), mode: 0o755 },
    ...TEST_IMAGE_APPLETS.map((applet) => ({
      kind: 'symlink' as const,
      path: `bin/${applet}`,
      target: 'busybox',
    })),
    { kind: 'dir', path: 'tmp', mode: 0o1777 },
    { kind: 'dir', path: 'www' },
  ])
  await docker.importImage(archive, tag, options.signal)
}

/** A dynamically linked busybox would not run in an image without a libc: say so plainly. */
async function assertStatic(path: string): Promise<void> {
  const missing = `${path} is missing: install Debian's busybox-static (scripts/ensure-docker.sh does)`
  let header: Buffer
  try {
    const file = await open(path)
    try {
      header = Buffer.alloc(64)
      await file.read(header, 0, 64, 0)
      const phoff = Number(header.readBigUInt64LE(0x20))
      const phentsize = header.readUInt16LE(0x36)
      const phnum = header.readUInt16LE(0x38)
      if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2)
        throw new Error(`${path} is not a 64-bit ELF file`)
      const table = Buffer.alloc(phentsize * phnum)
      await file.read(table, 0, table.length, phoff)
      for (let i = 0; i < phnum; i++) {
        // PT_INTERP: the binary needs a dynamic loader.
        if (table.readUInt32LE(i * phentsize) === 3) {
          throw new Error(`${path} is dynamically linked: install Debian's busybox-static instead of busybox`)
        }
      }
    } finally {
      await file.close()
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(missing)
    throw err
  }
}
