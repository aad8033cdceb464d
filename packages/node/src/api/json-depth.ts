/**
 * Whether a JSON text nests arrays and objects deeper than `max`, found in one pass without
 * parsing: brackets inside strings do not count. A text that is not JSON gets an answer too;
 * JSON.parse then refuses it.
 */
export function jsonDepthOver(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: the next character is escaped
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}
