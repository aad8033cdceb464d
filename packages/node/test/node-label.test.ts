import { NodeNameSchema } from '@gary/protocol'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { nameFromHostname, nodeLabel } from '../src/node-label.js'

describe('node labels', () => {
  test('a name is shown beside the short id; without one, the short id alone', () => {
    const id = '12D3KooWAbCdEfGhIjKlMnOpQrStUvWx'
    expect(nodeLabel(id, 'alpha')).toBe('alpha (QrStUvWx)')
    expect(nodeLabel(id)).toBe('QrStUvWx')
    expect(nodeLabel(id, 'alpha', 'self')).toBe('alpha (QrStUvWx, self)')
  })

  test('any hostname gives a valid node name', () => {
    expect(nameFromHostname('web-1.example.com')).toBe('web-1.example.com')
    expect(nameFromHostname('my host!')).toBe('my-host')
    expect(nameFromHostname('---')).toBe('node')
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (hostname) => {
        expect(NodeNameSchema.safeParse(nameFromHostname(hostname)).success).toBe(true)
      }),
    )
  })
})
