// Splits the daemons' CPU profiles of a `bench:lab-deploy` run between Gary's deploys and the plain
// `docker run`s, and prints what Gary's deploys spent beyond the plain runs, per deploy, summed
// over the daemons:
//
//   GARY_LAB_NODE_ARGS="--cpu-prof --cpu-prof-dir=$PWD/prof" node bench/lab-deploy.mjs \
//     --replicas 20 --runs 3 --windows $PWD/prof/windows.json
//   node bench/profile-windows.mjs prof [--top 40]
//
// A sample is read as the time until the next one. V8 samples on a wall-clock timer, so on a loaded
// host a profile also counts the time a daemon waited for a core: compare shares, not milliseconds
// (the benchmark's CPU columns count the milliseconds).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '40' }, windows: { type: 'string' } },
})
const dir = positionals[0]
if (dir === undefined) throw new Error('usage: node bench/profile-windows.mjs DIR [--top N] [--windows FILE]')
const top = Number(values.top)
const windows = JSON.parse(readFileSync(values.windows ?? join(dir, 'windows.json'), 'utf8'))
const count = { gary: 0, docker: 0 }
for (const w of windows) count[w.kind]++

/** Which kind of deploy ran at `t` (µs, the profiles' monotonic clock), if any. */
const kindAt = (t) => windows.find((w) => t >= w.window[0] && t <= w.window[1])?.kind

const frameName = (frame) => {
  const url = frame.url.replace(/.*node_modules\//, '').replace(/.*\/packages\//, '')
  return `${frame.functionName || '(anonymous)'} ${url}:${frame.lineNumber + 1}`
}

// ms per kind: by leaf frame (self), and by every frame on the stack (inclusive).
const self = { gary: new Map(), docker: new Map() }
const inclusive = { gary: new Map(), docker: new Map() }
const busy = { gary: 0, docker: 0 }
const add = (map, key, ms) => map.set(key, (map.get(key) ?? 0) + ms)

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'))
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map()
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
  const stacks = new Map()
  const stackOf = (id) => {
    let stack = stacks.get(id)
    if (stack === undefined) {
      stack = []
      for (let at = id; at !== undefined; at = parent.get(at)) stack.push(frameName(nodes.get(at).callFrame))
      stacks.set(id, stack)
    }
    return stack
  }
  let t = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]
    const kind = kindAt(t)
    if (kind === undefined) continue
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000
    const stack = stackOf(profile.samples[i])
    if (stack[0].startsWith('(idle)')) continue
    busy[kind] += ms
    add(self[kind], stack[0], ms)
    for (const frame of new Set(stack)) if (!frame.startsWith('(root)')) add(inclusive[kind], frame, ms)
  }
}

/** Per deploy: Gary's minus the plain runs', largest first. */
function beyond(maps) {
  return [...new Set([...maps.gary.keys(), ...maps.docker.keys()])]
    .map((key) => [key, (maps.gary.get(key) ?? 0) / count.gary - (maps.docker.get(key) ?? 0) / count.docker])
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
}

const perDeploy = (kind) => Math.round(busy[kind] / count[kind])
const extra = perDeploy('gary') - perDeploy('docker')
console.log(
  `busy samples per deploy, all daemons: gary ${perDeploy('gary')} ms (${count.gary} deploys), docker run ${perDeploy('docker')} ms (${count.docker}); beyond: ${extra} ms`,
)
for (const [title, maps] of [
  ['self', self],
  ['inclusive', inclusive],
]) {
  console.log(`\n${title}, gary's deploys beyond the plain runs (ms per deploy, share of ${extra} ms):`)
  for (const [key, ms] of beyond(maps))
    console.log(`${ms.toFixed(0).padStart(7)} ${((100 * ms) / extra).toFixed(1).padStart(5)} %  ${key}`)
}
