/** One entry of a tar archive: a directory, a regular file, or a symbolic link. */
export type TarEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'symlink'; path: string; target: string }

/** Writes a ustar archive: enough for a root filesystem that `docker import` accepts. */
export function tar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = []
  for (const entry of entries) {
    const data = entry.kind === 'file' ? entry.data : Buffer.alloc(0)
    blocks.push(header(entry, data.byteLength))
    if (data.byteLength > 0) {
      blocks.push(data, Buffer.alloc((512 - (data.byteLength % 512)) % 512))
    }
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

function header(entry: TarEntry, size: number): Buffer {
  const block = Buffer.alloc(512)
  const path = entry.kind === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path
  if (Buffer.byteLength(path) > 100) throw new Error(`tar path too long: ${path}`)
  const defaultMode = entry.kind === 'file' ? 0o644 : 0o755
  const mode = entry.kind === 'symlink' ? 0o777 : (entry.mode ?? defaultMode)
  block.write(path, 0, 100, 'utf8')
  block.write(octal(mode, 8), 100)
  block.write(octal(0, 8), 108)
  block.write(octal(0, 8), 116)
  block.write(octal(size, 12), 124)
  block.write(octal(0, 12), 136)
  block.write('        ', 148)
  block.write(entry.kind === 'file' ? '0' : entry.kind === 'dir' ? '5' : '2', 156)
  if (entry.kind === 'symlink') block.write(entry.target, 157, 100, 'utf8')
  block.write('ustar\u000000', 257)
  let checksum = 0
  for (const byte of block) checksum += byte
  block.write(`${checksum.toString(8).padStart(6, '0')}\u0000 `, 148)
  return block
}

const octal = (value: number, width: number) => `${value.toString(8).padStart(width - 1, '0')}\u0000`
