// Run on a lab machine (bench/lab-deploy.mjs): serves the daemon's API, which listens on the
// machine's own loopback, on a Unix socket in the machine's /root, which the host sees too. A
// benchmark then calls the API from the host as it calls each engine's socket, without starting
// a process (bash, nsenter, curl) per call. Ends when its standard input closes.
//   node scripts/api-relay.mjs SOCKET [API_HOST:PORT]
import { rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'

const [socket, api = '127.0.0.1:7947'] = process.argv.slice(2)
const [host, port] = [api.slice(0, api.lastIndexOf(':')), Number(api.slice(api.lastIndexOf(':') + 1))]
rmSync(socket, { force: true })
const server = createServer((client) => {
  const upstream = connect({ host, port })
  client.pipe(upstream).pipe(client)
  const end = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on('error', end)
  upstream.on('error', end)
})
server.listen(socket, () => process.stdout.write('listening\n'))
process.stdin.resume()
process.stdin.on('end', () => {
  server.close()
  rmSync(socket, { force: true })
  process.exit(0)
})
