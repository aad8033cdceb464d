/**
 * What the daemon's own log lines count. Membership and the reconcile loop already say, at info or
 * warn, each thing a user wants counted; counting the lines keeps those files free of metrics. A
 * message renamed there must be renamed here too: `log-counters.test.ts` checks that each one is
 * still logged somewhere in the daemon's sources.
 */
export const COUNTED_LOG_LINES = {
  /** A member turned suspect here. */
  suspicionRaised: 'member suspect',
  /** A suspect member was heard from before it was held dead. */
  suspicionRefuted: 'member alive again',
  memberDead: 'member dead',
  claimed: 'claimed',
  released: 'released',
  restarted: 'container exited: restarting',
  refused: 'refused slot',
} as const

export type CountedLine = keyof typeof COUNTED_LOG_LINES

/**
 * A refusal's reason as a label with few values: the reason itself names images and nodes, one
 * series each would grow without bound.
 */
export function refusalKind(reason: unknown): string {
  const text = typeof reason === 'string' ? reason : ''
  if (/^image .* not found/.test(text)) return 'image'
  if (/restart policy is/.test(text)) return 'restart-policy'
  if (/times in a row$/.test(text)) return 'retries'
  return 'other'
}
