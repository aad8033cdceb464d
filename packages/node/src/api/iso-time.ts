/**
 * A wall time (ms) as an ISO string, or null when no date has it: times come from other nodes,
 * and one out of range made every `gary get` answer 500 ("Invalid time value").
 */
export function isoTime(ms: number): string | null {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
}
