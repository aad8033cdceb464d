import type { DeclarationsPort } from '@gary/node/declarations'
import type { MembershipPort } from '@gary/node/membership'
import { type Logger, pino } from 'pino'

/** What the trace reads of a node: its member table's view of the traced member. */
interface Holder {
  table: {
    get(id: string):
      | Readonly<{
          heardAt: number
          lastDirectAt?: number
          direct: boolean
          unreachableAt?: number
          confirmed?: boolean
          witnesses?: Map<string, number>
        }>
      | undefined
  }
}

/** The log lines of the agents that mark a step of a member's loss, by message. */
const STEPS: Record<string, string> = {
  'knocked at a silent member': 'knock answered',
  'member silent: accusing': 'accused',
  'member reported down': 'report counted',
  'member reported down: one witness so far': 'report noted',
  'member reported down: held back by its last heartbeat': 'report held back',
  'member unreachable after disconnect': 'unreachable',
  'member suspect': 'suspect',
  'member dead': 'dead',
}

/**
 * `--trace-loss`: what each node did about one lost member, from its agents' own log lines and
 * the reports it sent, each stamped with the simulated time since the loss. A node's death is
 * told by its path: `reports` (two witnesses, held-back reports included), `unreachable` (a
 * failed redial, or a report of one) or `age` (its heartbeats aged out here).
 */
export class MemberTrace {
  #member: string | undefined
  #from = 0
  readonly #lines: { at: number; text: string }[] = []

  constructor(
    private readonly now: () => number,
    private readonly holder: (node: string) => Holder | undefined,
  ) {}

  /** Traces `member` from now on. */
  follow(member: string): void {
    this.#member = member
    this.#from = this.now()
  }

  get member(): string | undefined {
    return this.#member
  }

  /** A logger that keeps the traced member's steps and drops everything else unformatted. */
  loggerFor(node: string): Logger {
    return pino(
      {
        level: 'debug',
        hooks: {
          logMethod: (args) => {
            const [fields, msg] = args as unknown[]
            if (this.#member === undefined || typeof msg !== 'string') return
            const f = fields as Record<string, unknown>
            if (f.member !== this.#member) return
            const step = STEPS[msg]
            if (step !== undefined) this.#step(node, step, f)
          },
        },
      },
      { write: () => {} },
    )
  }

  /** The port a node's agents get: the reports it sends about the traced member are steps too. */
  tap(node: string, port: MembershipPort & DeclarationsPort): MembershipPort & DeclarationsPort {
    const publishNote: MembershipPort['publishNote'] = (topic, note, done) => {
      if (note.kind === 'down' && note.node === this.#member)
        this.#add(node, `reported${note.unreachable === true ? ' (unreachable)' : ''}`)
      port.publishNote(topic, note, done)
    }
    // Every other call goes to the port itself (its methods read its private fields).
    return new Proxy(port, {
      get: (target, key) => {
        if (key === 'publishNote') return publishNote
        const value = Reflect.get(target, key)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  }

  #step(node: string, step: string, fields: Record<string, unknown>): void {
    const extra: string[] = []
    if (fields.answer !== undefined) extra.push(`answer ${fields.answer}`)
    if (fields.silentMs !== undefined)
      extra.push(`silent ${Math.round(Number(fields.silentMs))} ms`, `${fields.outcome}`)
    if (fields.witness !== undefined) extra.push(`from ${fields.witness}`)
    const member = this.holder(node)?.table.get(this.#member as string)
    if (member !== undefined) {
      const last =
        member.lastDirectAt === undefined ? 'never' : `${Math.round(member.lastDirectAt - this.#from)} ms`
      extra.push(`${member.direct ? 'connected' : 'unconnected'}, last beat ${last}`)
      if (step === 'dead') extra.push(`by ${deathPath(member)}`, `witnesses ${member.witnesses?.size ?? 0}`)
    }
    this.#add(node, `${step}${extra.length > 0 ? `: ${extra.join(', ')}` : ''}`)
  }

  #add(node: string, text: string): void {
    const at = Math.round(this.now() - this.#from)
    this.#lines.push({ at, text: `${String(at).padStart(6)} ms  ${node}  ${text}` })
  }

  /** The steps in time order, then how many nodes saw the member dead by each path. */
  render(): string {
    const paths = new Map<string, number>()
    for (const { text } of this.#lines) {
      const path = / dead: .* by (\w+)/.exec(text)?.[1]
      if (path !== undefined) paths.set(path, (paths.get(path) ?? 0) + 1)
    }
    const summary = [...paths].map(([path, n]) => `${n} by ${path}`).join(', ')
    return [
      `trace of ${this.#member ?? 'no member'} (ms since its loss):`,
      ...this.#lines.map((line) => line.text),
      `seen dead: ${summary || 'nowhere'}`,
    ].join('\n')
  }
}

/** How a member held dead got there (`statusAt`'s order). */
function deathPath(member: { confirmed?: boolean; unreachableAt?: number; heardAt: number }): string {
  if (member.confirmed === true) return 'reports'
  if (member.unreachableAt !== undefined && member.unreachableAt >= member.heardAt) return 'unreachable'
  return 'age'
}
