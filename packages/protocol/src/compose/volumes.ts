import { normalisePath } from '../host-path.js'
import type { ComposeNote } from './convert.js'

/** A mount as a Gary spec file writes it. */
export interface VolumeInput {
  name?: string
  source?: string
  target: string
  readOnly?: boolean
}

/** Docker's rule for volume names, as the spec checks it. */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
const LONG_KEYS = new Set(['type', 'source', 'target', 'read_only'])

/**
 * A service's `volumes`, short (`data:/var/lib/x:ro`, `/srv/x:/x`) and long syntax, as Gary
 * mounts: a named volume becomes the node's volume of the slot, an absolute host path a bind
 * mount (which a node must allow). What cannot be carried over is a note; what cannot be read,
 * or a relative host path (nodes know no project directory), is a problem.
 */
export function convertVolumes(
  value: unknown,
  problems: string[],
  notes: Omit<ComposeNote, 'service'>[],
): VolumeInput[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    problems.push('.volumes: must be a list')
    return []
  }
  const volumes: VolumeInput[] = []
  value.forEach((entry, index) => {
    const at = `.volumes[${index}]`
    const ignore = (reason: string, key = `volumes[${index}]`) => notes.push({ kind: 'ignored', key, reason })
    let mount: { type: string; source?: string; target: string; readOnly: boolean } | undefined
    if (typeof entry === 'string') {
      const parts = entry.split(':')
      if (parts.length > 3 || parts.some((part) => part === '')) {
        problems.push(`${at}: ${JSON.stringify(entry)} is not SOURCE:TARGET[:MODE] or TARGET`)
        return
      }
      const [first, second, mode] = parts as [string, string | undefined, string | undefined]
      const modes = (mode ?? '').split(',').filter((m) => m !== '')
      for (const m of modes)
        if (m !== 'ro' && m !== 'rw') ignore(`mode ${m} is not supported (only ro and rw)`)
      mount =
        second === undefined
          ? { type: 'volume', target: first, readOnly: false }
          : {
              type: isPath(first) ? 'bind' : 'volume',
              source: first,
              target: second,
              readOnly: modes.includes('ro'),
            }
    } else if (isMap(entry)) {
      for (const key of Object.keys(entry))
        if (!LONG_KEYS.has(key)) ignore('not supported by Gary', `volumes[${index}].${key}`)
      if (
        typeof entry.target !== 'string' ||
        (entry.source !== undefined && typeof entry.source !== 'string')
      ) {
        problems.push(`${at}: target (and source) must be strings`)
        return
      }
      mount = {
        type: typeof entry.type === 'string' ? entry.type : 'volume',
        ...(entry.source === undefined || entry.source === '' ? {} : { source: entry.source as string }),
        target: entry.target,
        readOnly: entry.read_only === true,
      }
    } else {
      problems.push(`${at}: must be a string or a map`)
      return
    }
    if (mount.type !== 'volume' && mount.type !== 'bind') {
      ignore(`a ${mount.type} mount is not supported (only named volumes and bind mounts)`)
      return
    }
    if (mount.source === undefined) {
      ignore('an anonymous volume is not carried over: name it to keep its data')
      return
    }
    const target = normalisePath(mount.target)
    if (!target.ok) {
      problems.push(`${at}: target ${target.problem}`)
      return
    }
    if (target.path === '/' || volumes.some((v) => v.target === target.path)) {
      problems.push(
        `${at}: target ${target.path} ${target.path === '/' ? "is the container's root" : 'is mounted twice'}`,
      )
      return
    }
    const readOnly = mount.readOnly ? { readOnly: true } : {}
    if (mount.type === 'bind') {
      const source = normalisePath(mount.source)
      if (!source.ok) {
        problems.push(
          `${at}: host path ${JSON.stringify(mount.source)} is not absolute: Gary's nodes know no project directory (write the full path)`,
        )
        return
      }
      volumes.push({ source: source.path, target: target.path, ...readOnly })
      return
    }
    if (!VOLUME_NAME.test(mount.source)) {
      problems.push(`${at}: ${JSON.stringify(mount.source)} is not a volume name (letters, digits, _ . -)`)
      return
    }
    volumes.push({ name: mount.source, target: target.path, ...readOnly })
  })
  return volumes
}

/**
 * The file's top-level `volumes`: a declaration with nothing in it loses nothing; a driver,
 * options, a name or `external` are not read (each slot's volume is the node's local one).
 */
export function topLevelVolumeNotes(value: unknown): ComposeNote[] {
  if (!isMap(value))
    return value === undefined || value === null
      ? []
      : [{ kind: 'ignored', key: 'volumes', reason: 'must be a map' }]
  const notes: ComposeNote[] = []
  for (const [name, body] of Object.entries(value)) {
    if (!isMap(body)) continue
    for (const key of Object.keys(body))
      notes.push({
        kind: 'ignored',
        key: `volumes.${name}.${key}`,
        reason:
          'a named volume is a local volume of the node that runs each slot, one per slot: its driver and options are not read',
      })
  }
  return notes
}

/** Compose reads a short-syntax source as a host path when it starts like one. */
const isPath = (source: string): boolean => /^(\/|\.|~)/.test(source)

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
