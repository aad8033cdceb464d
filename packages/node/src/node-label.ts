/** Characters of a peer id shown to people: ids share their start (`12D3KooW`), so their end tells them apart. */
export const SHORT_ID_CHARS = 8

/** The end of a peer id, as tables and log lines show it beside the node's name. */
export const shortId = (id: string): string => id.slice(-SHORT_ID_CHARS)

/**
 * How a node is shown to a person: its name beside its short id (`alpha (Kx7fQ2ab)`), or the
 * short id alone; `note` joins the id in the brackets (`alpha (Kx7fQ2ab, self)`).
 */
export function nodeLabel(id: string, name?: string, note?: string): string {
  if (name === undefined || name === '') return note === undefined ? shortId(id) : `${shortId(id)} (${note})`
  return `${name} (${note === undefined ? shortId(id) : `${shortId(id)}, ${note}`})`
}

const NAME_CHARS = /[^A-Za-z0-9._-]+/g

/**
 * A node name made of a hostname: what a node name may not hold becomes `-`, cut to 63
 * characters and trimmed to start and end with a letter or digit; `node` when nothing is left.
 */
export function nameFromHostname(hostname: string): string {
  const name = hostname
    .replace(NAME_CHARS, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')
  return name === '' ? 'node' : name
}
