// Bundles the `gary` CLI and daemon (packages/node/dist/cli.js and everything it imports) into
// packages/node/dist/bundle/, which bin/gary.js runs while it is newer than every package's build.
// Node 20 has no compile cache: loading the daemon's ~1000 modules one file at a time cost 0.8-0.9
// CPU seconds, 30 of them at once on 2 cores 13 s before any work (docs/design.md, "Cold start").
// Run after `tsc -b` (`npm run build` does both).
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'rolldown'

const node = fileURLToPath(new URL('../packages/node/', import.meta.url))
// Loaded from node_modules as before: native addons (the Docker client's, loaded only with the
// Docker runtime) and pino, whose transports start workers from files beside its own.
const EXTERNAL = [
  /^dockerode/,
  /^docker-modem/,
  /^ssh2/,
  /^cpu-features/,
  /^pino/,
  /^thread-stream/,
  /\.node$/,
]

rmSync(`${node}dist/bundle`, { recursive: true, force: true })
await build({
  input: `${node}dist/cli.js`,
  platform: 'node',
  external: EXTERNAL,
  logLevel: 'warn',
  // Chunks stay one directory below the package, as dist/*/ files are: the paths they resolve
  // from import.meta.url (../../package.json, ../../ui/, ../api/spec-worker.js) hold for both.
  output: { dir: `${node}dist/bundle`, format: 'esm', sourcemap: false },
})
