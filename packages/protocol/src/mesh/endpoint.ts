/**
 * Where a slot's published port is reached, as its promise carries it: `host:port->container/proto`
 * (`10.0.0.3:32768->8080/tcp`, Docker's own notation), so that a node's mesh knows which of a
 * slot's endpoints serves which container port, whatever generation the slot runs.
 */
export interface Endpoint {
  host: string
  port: number
  containerPort: number
  protocol: 'tcp' | 'udp'
}

export function formatEndpoint(endpoint: Endpoint): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host
  return `${host}:${endpoint.port}->${endpoint.containerPort}/${endpoint.protocol}`
}

const ENDPOINT = /^(?:\[([0-9A-Fa-f:.]{2,45})\]|([A-Za-z0-9.-]{1,253})):(\d{1,5})->(\d{1,5})\/(tcp|udp)$/

/** The endpoint a promise names, or undefined when the text is not one (an older node's, or junk). */
export function parseEndpoint(text: string): Endpoint | undefined {
  const match = ENDPOINT.exec(text)
  if (match === null) return undefined
  const port = Number(match[3])
  const containerPort = Number(match[4])
  if (!validPort(port) || !validPort(containerPort)) return undefined
  return {
    host: (match[1] ?? match[2]) as string,
    port,
    containerPort,
    protocol: match[5] as 'tcp' | 'udp',
  }
}

const validPort = (port: number) => port >= 1 && port <= 65_535
