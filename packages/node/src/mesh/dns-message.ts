/**
 * The little of DNS (RFC 1035) the name server needs: read the one question of a query, and write
 * an answer to it. Everything else is forwarded untouched. Hostile bytes give `undefined`, never
 * an exception.
 */

export const TYPE_A = 1
export const TYPE_AAAA = 28
const CLASS_IN = 1
const HEADER_BYTES = 12
const MAX_NAME_BYTES = 255

export const RCODE = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4 } as const

export interface DnsQuery {
  id: number
  /** Recursion desired: echoed in the answer. */
  rd: boolean
  opcode: number
  /** Lower case, without the final dot: `web.gary`. */
  name: string
  type: number
  qclass: number
  /** The question section as sent (the answer repeats it byte for byte). */
  question: Uint8Array
}

/** The query's one question, or undefined when the bytes are not a query with exactly one. */
export function parseQuery(bytes: Uint8Array): DnsQuery | undefined {
  if (bytes.length < HEADER_BYTES + 5) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const flags = view.getUint16(2)
  if ((flags & 0x8000) !== 0) return undefined // a response, not a query
  if (view.getUint16(4) !== 1 || view.getUint16(6) !== 0 || view.getUint16(8) !== 0) return undefined
  const labels: string[] = []
  let at = HEADER_BYTES
  let nameBytes = 0
  for (;;) {
    if (at >= bytes.length) return undefined
    const length = bytes[at] as number
    at++
    if (length === 0) break
    // Compression pointers and extended labels have no place in a question.
    if (length > 63) return undefined
    nameBytes += length + 1
    if (nameBytes > MAX_NAME_BYTES || at + length > bytes.length) return undefined
    labels.push(ascii(bytes.subarray(at, at + length)))
    at += length
  }
  if (at + 4 > bytes.length) return undefined
  const type = view.getUint16(at)
  const qclass = view.getUint16(at + 2)
  at += 4
  return {
    id: view.getUint16(0),
    rd: (flags & 0x0100) !== 0,
    opcode: (flags >> 11) & 0xf,
    name: labels.join('.').toLowerCase(),
    type,
    qclass,
    question: bytes.slice(HEADER_BYTES, at),
  }
}

/** The id of a message, or undefined when it is too short to have one. */
export function messageId(bytes: Uint8Array): number | undefined {
  return bytes.length < HEADER_BYTES ? undefined : ((bytes[0] as number) << 8) | (bytes[1] as number)
}

/**
 * An authoritative answer to `query`: `rcode`, and an A record for each IPv4 address (only when
 * the question asks for A records in class IN).
 */
export function answer(
  query: DnsQuery,
  rcode: number,
  addresses: readonly string[] = [],
  ttl = 5,
): Uint8Array {
  const records =
    rcode === RCODE.noError && query.type === TYPE_A && query.qclass === CLASS_IN
      ? addresses.map(ipv4Bytes).filter((a): a is number[] => a !== undefined)
      : []
  const bytes = new Uint8Array(HEADER_BYTES + query.question.length + records.length * 16)
  const view = new DataView(bytes.buffer)
  view.setUint16(0, query.id)
  // QR, the query's opcode, AA, the query's RD, RA, and the rcode.
  view.setUint16(2, 0x8000 | (query.opcode << 11) | 0x0400 | (query.rd ? 0x0100 : 0) | 0x0080 | (rcode & 0xf))
  view.setUint16(4, 1)
  view.setUint16(6, records.length)
  bytes.set(query.question, HEADER_BYTES)
  let at = HEADER_BYTES + query.question.length
  for (const address of records) {
    view.setUint16(at, 0xc000 | HEADER_BYTES) // the name: a pointer to the question's
    view.setUint16(at + 2, TYPE_A)
    view.setUint16(at + 4, CLASS_IN)
    view.setUint32(at + 6, ttl)
    view.setUint16(at + 10, 4)
    bytes.set(address, at + 12)
    at += 16
  }
  return bytes
}

/** A reply that says only `rcode` to a message of which only the id could be read. */
export function failure(id: number, rcode: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES)
  const view = new DataView(bytes.buffer)
  view.setUint16(0, id)
  view.setUint16(2, 0x8000 | 0x0080 | (rcode & 0xf))
  return bytes
}

function ascii(bytes: Uint8Array): string {
  let text = ''
  for (const byte of bytes) text += String.fromCharCode(byte)
  return text
}

function ipv4Bytes(address: string): number[] | undefined {
  const parts = address.split('.')
  if (parts.length !== 4) return undefined
  const bytes = parts.map(Number)
  return bytes.every((b, i) => Number.isInteger(b) && b >= 0 && b <= 255 && /^\d{1,3}$/.test(parts[i] ?? ''))
    ? bytes
    : undefined
}
