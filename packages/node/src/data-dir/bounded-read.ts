import { open } from 'node:fs/promises'

/** A file holds more than the reader takes: not the file it should be. */
export class FileTooLargeError extends Error {
  override name = 'FileTooLargeError'
  constructor(
    readonly path: string,
    readonly maxBytes: number,
  ) {
    super(`${path} holds more than ${maxBytes} bytes`)
  }
}

/**
 * Reads a whole file of at most `maxBytes`, or throws FileTooLargeError. The size is found by
 * reading, not by stat: a FIFO or a device (`--cluster-key /dev/zero`) reports size 0 and never
 * ends, and read whole it fills the memory.
 */
export async function readFileBounded(path: string, maxBytes: number): Promise<Buffer> {
  const file = await open(path, 'r')
  try {
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const chunk = Buffer.alloc(Math.min(1 << 20, maxBytes + 1 - total))
      const { bytesRead } = await file.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      total += bytesRead
      if (total > maxBytes) throw new FileTooLargeError(path, maxBytes)
    }
    return Buffer.concat(chunks, total)
  } finally {
    await file.close()
  }
}
