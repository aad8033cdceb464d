import type { NetworkInterfaceInfo } from 'node:os'
import { describe, expect, it } from 'vitest'
import { dialableAddrs, hostOf, reachOf } from '../src/net/addresses.js'

const v4 = (address: string): NetworkInterfaceInfo => ({
  address,
  netmask: '255.255.255.0',
  family: 'IPv4',
  mac: '02:00:00:00:00:01',
  internal: false,
  cidr: `${address}/24`,
})

// A machine as the lab makes one: its LAN address, Docker's bridge, a user network, loopback.
const MACHINE = {
  lo: [{ ...v4('127.0.0.1'), internal: true }],
  eth0: [v4('10.213.100.11')],
  docker0: [v4('172.17.0.1')],
  'br-3f2a9c1b7d0e': [v4('172.18.0.1')],
}

describe('the addresses a node gives others', () => {
  it('are its LAN addresses, without loopback or container bridges', () => {
    const addrs = [
      '/ip4/127.0.0.1/tcp/4279',
      '/ip4/10.213.100.11/tcp/4279',
      '/ip4/172.17.0.1/tcp/4279',
      '/ip4/172.18.0.1/tcp/4279',
    ]
    expect(dialableAddrs(addrs, MACHINE)).toEqual(['/ip4/10.213.100.11/tcp/4279'])
  })

  it('are loopback ones when the node listens on loopback only, and bridges only when nothing else exists', () => {
    expect(dialableAddrs(['/ip4/127.0.0.1/tcp/4279', '/ip4/172.17.0.1/tcp/4279'], MACHINE)).toEqual([
      '/ip4/127.0.0.1/tcp/4279',
    ])
    expect(dialableAddrs(['/ip4/172.17.0.1/tcp/4279'], MACHINE)).toEqual(['/ip4/172.17.0.1/tcp/4279'])
  })

  it('keep a Linux bridge that is the LAN (br0), and names the operator gave', () => {
    const host = { br0: [v4('192.168.1.5')], docker0: [v4('172.17.0.1')] }
    expect(reachOf('/ip4/192.168.1.5/tcp/4279', host)).toBe('remote')
    expect(reachOf('/ip4/172.17.0.1/tcp/4279', host)).toBe('container')
    expect(reachOf('/dns4/node1.example/tcp/4279', host)).toBe('remote')
    expect(reachOf('/ip6/fe80::1/tcp/4279', host)).toBe('container')
    expect(reachOf('/ip6/::1/tcp/4279', host)).toBe('loopback')
  })

  it('give the host a published port is reached at', () => {
    expect(hostOf('/ip4/10.213.100.11/tcp/4279')).toBe('10.213.100.11')
    expect(hostOf('/dns4/node1.example/tcp/4279/p2p/12D3KooW')).toBe('node1.example')
    expect(hostOf(undefined)).toBeUndefined()
  })
})
