import { describe, expect, test } from 'vitest'
import { parseApiAddress } from '../src/cli/api-address.js'

describe('parseApiAddress', () => {
  test.each([
    ['127.0.0.1:7947', '127.0.0.1:7947'],
    ['http://127.0.0.1:7947', '127.0.0.1:7947'],
    ['http://127.0.0.1:7947/', '127.0.0.1:7947'],
    ['HTTP://localhost:9000', 'localhost:9000'],
    ['127.0.0.1', '127.0.0.1:7947'],
    ['localhost', 'localhost:7947'],
    ['http://node-1.example', 'node-1.example:7947'],
    ['[::1]:7947', '[::1]:7947'],
    ['[::1]', '[::1]:7947'],
    [' 127.0.0.1:80 ', '127.0.0.1:80'],
  ])('%j is %j', (typed, address) => {
    expect(parseApiAddress(typed)).toBe(address)
  })

  test.each([
    ['https://127.0.0.1:7947', 'speaks plain http, not https'],
    ['ftp://x', 'not ftp'],
    ['127.0.0.1:7947/v1', 'is not an API address'],
    ['127.0.0.1:99999', 'is not an API address'],
    ['127.0.0.1:0', 'is not an API address'],
    ['a b', 'is not an API address'],
    ['', 'is not an API address'],
  ])('%j is refused: %s', (typed, message) => {
    expect(() => parseApiAddress(typed)).toThrow(message)
    try {
      parseApiAddress(typed)
    } catch (err) {
      expect((err as Error).name).toBe('UserError')
    }
  })
})
