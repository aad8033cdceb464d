import { createSocket, type Socket } from 'node:dgram'
import fc from 'fast-check'
import pino from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { answer, parseQuery, RCODE, TYPE_A, TYPE_AAAA } from '../src/mesh/dns-message.js'
import { NameServer } from '../src/mesh/name-server.js'
import { parseResolvConf } from '../src/mesh/resolv-conf.js'
import { newMeshStats } from '../src/mesh/stats.js'

const logger = pino({ level: 'silent' })

/** A query as a stub resolver sends it: one question, recursion desired. */
function query(name: string, type = TYPE_A, id = 0x1234): Uint8Array {
  const labels = name.split('.').filter((label) => label !== '')
  const bytes: number[] = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
  for (const label of labels) bytes.push(label.length, ...Buffer.from(label, 'latin1'))
  bytes.push(0, type >> 8, type & 0xff, 0, 1)
  return Uint8Array.from(bytes)
}

/** The rcode and the A records of an answer. */
function read(reply: Uint8Array): { id: number; rcode: number; addresses: string[] } {
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength)
  const count = view.getUint16(6)
  // Skip the question (the name, then type and class), if there is one.
  let at = 12
  if (view.getUint16(4) === 1) {
    while (at < reply.length && reply[at] !== 0) at += (reply[at] as number) + 1
    at += 5
  }
  const addresses: string[] = []
  for (let i = 0; i < count; i++) {
    const length = view.getUint16(at + 10)
    if (view.getUint16(at + 2) === TYPE_A)
      addresses.push([...reply.subarray(at + 12, at + 12 + length)].join('.'))
    at += 12 + length
  }
  return { id: view.getUint16(0), rcode: view.getUint16(2) & 0xf, addresses }
}

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/)

describe('DNS messages', () => {
  test('hostile bytes never throw, and what parses is a query with one question', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const parsed = parseQuery(bytes)
        if (parsed !== undefined) expect(parsed.name.length).toBeLessThanOrEqual(255)
      }),
    )
  })

  test('a question reads back as sent, and its answer carries the addresses', () => {
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 4 }), fc.nat(0xffff), (labels, id) => {
        const name = labels.join('.')
        const parsed = parseQuery(query(name.toUpperCase(), TYPE_A, id))
        expect(parsed).toMatchObject({ id, name, type: TYPE_A, rd: true })
        const reply = read(answer(parsed!, RCODE.noError, ['172.17.0.1']))
        expect(reply).toEqual({ id, rcode: RCODE.noError, addresses: ['172.17.0.1'] })
      }),
    )
  })

  test('a query with two questions, a compression pointer or a response is not read', () => {
    const two = query('web')
    two[5] = 2
    expect(parseQuery(two)).toBeUndefined()
    const pointer = Uint8Array.from([...query('').subarray(0, 12), 0xc0, 0x0c, 0, 1, 0, 1])
    expect(parseQuery(pointer)).toBeUndefined()
    const response = query('web')
    response[2] = 0x81
    expect(parseQuery(response)).toBeUndefined()
  })

  test('resolv.conf: the name servers, in order', () => {
    expect(
      parseResolvConf('# x\nsearch lan\nnameserver 10.0.0.2\nnameserver  fe80::1%eth0\nnameserver bad\n'),
    ).toEqual(['10.0.0.2', 'fe80::1%eth0'])
  })
})

describe('the name server', () => {
  const open: { stop(): Promise<void> }[] = []
  afterEach(async () => {
    for (const thing of open.splice(0)) await thing.stop()
  })

  async function upstream(answerWith?: string): Promise<{ port: number; asked: string[] }> {
    const socket = createSocket('udp4')
    const asked: string[] = []
    socket.on('message', (message, from) => {
      const q = parseQuery(message)!
      asked.push(q.name)
      if (answerWith !== undefined)
        socket.send(answer(q, RCODE.noError, [answerWith]), from.port, from.address)
    })
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    open.push({ stop: () => new Promise<void>((resolve) => socket.close(() => resolve())) })
    return { port: socket.address().port, asked }
  }

  async function server(upstreamPort?: number) {
    const stats = newMeshStats()
    const ns = new NameServer(
      {
        address: '127.0.0.1',
        port: 0,
        upstreams: upstreamPort === undefined ? [] : ['127.0.0.1'],
        upstreamPort,
        upstreamTimeoutMs: 500,
      },
      { logger, stats, lookup: (name) => (name === 'web' ? ['172.17.0.1'] : undefined) },
    )
    await ns.start()
    open.push(ns)
    return { ns, stats }
  }

  async function ask(port: number, bytes: Uint8Array): Promise<Uint8Array> {
    const socket: Socket = createSocket('udp4')
    try {
      return await new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer from the name server within 3 s')), 3000)
        socket.once('message', (reply) => {
          clearTimeout(timer)
          resolve(reply)
        })
        socket.send(bytes, port, '127.0.0.1')
      })
    } finally {
      socket.close()
    }
  }

  test('answers a workload’s name, bare or under .gary, with the node’s address', async () => {
    const { ns, stats } = await server()
    for (const name of ['web', 'WEB.gary', 'web.gary.']) {
      expect(read(await ask(ns.port!, query(name)))).toEqual({
        id: 0x1234,
        rcode: RCODE.noError,
        addresses: ['172.17.0.1'],
      })
    }
    // Known name, no IPv6 address: no records, not "no such name" (the resolver goes on to A).
    expect(read(await ask(ns.port!, query('web', TYPE_AAAA)))).toEqual({
      id: 0x1234,
      rcode: RCODE.noError,
      addresses: [],
    })
    expect(read(await ask(ns.port!, query('nope.gary'))).rcode).toBe(RCODE.nxDomain)
    expect(stats.dnsAnswered).toBe(5)
  })

  test('forwards other names to the host’s resolvers, and says SERVFAIL when none answers', async () => {
    const up = await upstream('10.1.2.3')
    const { ns, stats } = await server(up.port)
    expect(read(await ask(ns.port!, query('example.com', TYPE_A, 7)))).toEqual({
      id: 7,
      rcode: 0,
      addresses: ['10.1.2.3'],
    })
    expect(up.asked).toEqual(['example.com'])
    const silent = await upstream()
    const { ns: other } = await server(silent.port)
    expect(read(await ask(other.port!, query('example.com'))).rcode).toBe(RCODE.servFail)
    const { ns: alone } = await server()
    expect(read(await ask(alone.port!, query('example.com'))).rcode).toBe(RCODE.servFail)
    expect(stats.dnsForwarded).toBe(1)
  })

  test('a query it cannot read is told so; junk does not stop it', async () => {
    const { ns } = await server()
    const two = query('web', TYPE_A, 9)
    two[5] = 2
    expect(read(await ask(ns.port!, two.subarray(0, 12)))).toMatchObject({ id: 9, rcode: RCODE.formErr })
    const sender = createSocket('udp4')
    sender.send(Uint8Array.from([1, 2, 3]), ns.port!, '127.0.0.1', () => sender.close())
    expect(read(await ask(ns.port!, query('web'))).addresses).toEqual(['172.17.0.1'])
  })

  test('an address in use is refused with a NameServerError that says so', async () => {
    const { ns } = await server()
    const second = new NameServer(
      { address: '127.0.0.1', port: ns.port! },
      { logger, lookup: () => undefined },
    )
    const err = await second.start().then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err?.name).toBe('NameServerError')
    expect(err?.message).toBe(
      `127.0.0.1:${ns.port}/udp is in use by another process (another node on this engine, or a local resolver)`,
    )
  })
})
