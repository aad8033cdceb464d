import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { Gate, GateFullError } from '../src/api/gate.js'
import { jsonDepthOver } from '../src/api/json-depth.js'
import { refusal } from '../src/api/request-guard.js'
import { isLoopbackAddress, resolveLoopback } from '../src/config/loopback.js'

const json = { 'content-type': 'application/json' }
const local = { apiHost: '127.0.0.1' }

describe('request guard', () => {
  test('lets the CLI through: loopback Host, JSON body, no Origin', () => {
    for (const host of ['127.0.0.1:7947', 'localhost:7947', '[::1]:7947', 'LOCALHOST', '127.0.0.1'])
      expect(refusal({ method: 'POST', headers: { host, ...json } }, local)).toBeUndefined()
    expect(refusal({ method: 'GET', headers: { host: '127.0.0.1:1' } }, local)).toBeUndefined()
    expect(
      refusal(
        {
          method: 'POST',
          headers: { host: '127.0.0.1:1', 'content-type': 'application/json; charset=utf-8' },
        },
        local,
      ),
    ).toBeUndefined()
  })

  test('refuses a rebound name without a token, accepts any name with one', () => {
    const rebound = { method: 'GET', headers: { host: 'evil.example:7947' } }
    expect(refusal(rebound, local)?.status).toBe(403)
    expect(refusal(rebound, { ...local, token: 'x'.repeat(16) })).toBeUndefined()
    expect(
      refusal({ method: 'GET', headers: { host: 'gary.internal:7947' } }, { apiHost: 'gary.internal' }),
    ).toBeUndefined()
  })

  test('refuses what only a browser sends: foreign Origin, cross-site fetches, form bodies', () => {
    const host = '127.0.0.1:7947'
    expect(refusal({ method: 'GET', headers: { host, origin: 'http://evil.example' } }, local)?.status).toBe(
      403,
    )
    expect(refusal({ method: 'GET', headers: { host, origin: 'null' } }, local)?.status).toBe(403)
    expect(refusal({ method: 'GET', headers: { host, origin: `http://${host}` } }, local)).toBeUndefined()
    for (const site of ['cross-site', 'same-site'])
      expect(refusal({ method: 'GET', headers: { host, 'sec-fetch-site': site } }, local)?.status).toBe(403)
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', undefined])
      expect(refusal({ method: 'POST', headers: { host, 'content-type': type } }, local)?.status).toBe(415)
  })
})

describe('jsonDepthOver', () => {
  const depth = (value: unknown): number =>
    typeof value === 'object' && value !== null ? 1 + Math.max(0, ...Object.values(value).map(depth)) : 0
  test('agrees with the parsed value, brackets in strings ignored', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.nat(8), (value, max) => {
        expect(jsonDepthOver(JSON.stringify(value), max)).toBe(depth(value) > max)
      }),
    )
  })
})

describe('Gate', () => {
  test('admits up to the limit, queues up to the bound, refuses beyond, in order', async () => {
    const gate = new Gate(2, 1)
    const first = await gate.acquire()
    await gate.acquire()
    const order: string[] = []
    const queued = gate.acquire().then((release) => {
      order.push('queued')
      return release
    })
    await expect(gate.acquire()).rejects.toBeInstanceOf(GateFullError)
    first()
    first()
    ;(await queued)()
    expect(order).toEqual(['queued'])
    expect(gate.active).toBe(1)
  })

  test('a waiter whose client went away leaves the queue', async () => {
    const gate = new Gate(1, 1)
    const release = await gate.acquire()
    const gone = new AbortController()
    const waiting = gate.acquire(gone.signal)
    gone.abort(new Error('client gone'))
    await expect(waiting).rejects.toThrow('client gone')
    const next = gate.acquire()
    release()
    await expect(next).resolves.toBeTypeOf('function')
  })
})

describe('loopback', () => {
  test('is decided on addresses, whatever their spelling', () => {
    for (const ip of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])
      expect(isLoopbackAddress(ip)).toBe(true)
    for (const ip of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '::ffff:10.0.0.1',
      '128.0.0.1',
      'localhost',
      '127.evil.example',
    ])
      expect(isLoopbackAddress(ip)).toBe(false)
  })

  test('resolves names: localhost is loopback', async () => {
    expect((await resolveLoopback('localhost')).loopback).toBe(true)
    expect(await resolveLoopback('10.1.2.3')).toEqual({ loopback: false, addresses: ['10.1.2.3'] })
  })
})
