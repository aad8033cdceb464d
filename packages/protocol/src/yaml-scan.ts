import { CST, Lexer } from 'yaml'

/** What `scanYaml` found before any parser builds a tree. */
export interface YamlScan {
  /** Deepest nesting of collections seen, up to the limit (block and flow together). */
  depth: number
  /** Line at which the nesting first went past `maxDepth`, if it did. */
  tooDeepAt?: number
  /** Documents in the stream (a document start marker or content each opens one), up to one past the limit. */
  documents: number
}

/**
 * Measures how deeply a YAML (or JSON) text nests, and how many documents it holds, with the
 * YAML lexer alone: a flat state machine, so a hostile text cannot overflow the stack here, as
 * it can in the parser and composer, which recurse once per level (1000 nested `[` did).
 *
 * The measure may count more levels than the document has (a plain scalar's `[` counts), never
 * fewer: block levels are the indentation stack of each line's first token and of the nodes
 * after compact `-` and `?` indicators, flow levels the open brackets.
 */
export function scanYaml(text: string, limits: { maxDepth: number; maxDocuments: number }): YamlScan {
  const { maxDepth, maxDocuments } = limits
  const indents: number[] = []
  let flow = 0
  let depth = 0
  let documents = 0
  let inDocument = false
  let line = 1
  let column = 0
  // A block node starts at a line's first token, and after a compact indicator on the same line.
  let nodeStarts = true
  const opened = (): boolean => {
    const level = indents.length + flow
    if (level > depth) depth = level
    return level > maxDepth
  }
  // A block scalar's body follows its header's next scalar marker: text, whatever its indentation.
  let header = false
  let body = false
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token)
    const at = column
    // The lexer's control tokens (document, scalar and flow-end markers) are not in the text.
    const control = type === 'doc-mode' || type === 'scalar' || type === 'flow-error-end'
    const breaks = control ? 0 : countNewlines(token)
    if (breaks > 0) {
      line += breaks
      column = token.length - token.lastIndexOf('\n') - 1
    } else if (!control) column += token.length
    if (body && !control) {
      body = false
      nodeStarts = flow === 0
      continue
    }
    switch (type) {
      case 'newline':
        nodeStarts = flow === 0
        continue
      case 'space':
      case 'comment':
      case 'byte-order-mark':
      case 'doc-mode':
        continue
      case 'scalar':
        body = header
        header = false
        continue
      case 'doc-start':
      case 'doc-end':
        indents.length = 0
        flow = 0
        inDocument = type === 'doc-start'
        if (inDocument && ++documents > maxDocuments) return { depth, documents }
        nodeStarts = false
        continue
      default:
        break
    }
    if (!inDocument && type !== 'directive-line') {
      inDocument = true
      if (++documents > maxDocuments) return { depth, documents }
    }
    if (type === 'block-scalar-header') header = true
    const starts = nodeStarts && flow === 0
    if (starts) {
      while (indents.length > 0 && (indents[indents.length - 1] as number) >= at) indents.pop()
      indents.push(at)
      if (opened()) return { depth, tooDeepAt: line, documents }
    }
    if (type === 'flow-seq-start' || type === 'flow-map-start') {
      flow++
      if (opened()) return { depth, tooDeepAt: line, documents }
    } else if (type === 'flow-seq-end' || type === 'flow-map-end' || type === 'flow-error-end') {
      if (flow > 0) flow--
    }
    // A compact indicator opens a node on the same line: `- - - x` nests three times.
    nodeStarts =
      (starts && (type === 'seq-item-ind' || type === 'explicit-key-ind' || type === 'map-value-ind')) ||
      (breaks > 0 && flow === 0)
  }
  return { depth, documents }
}

function countNewlines(token: string): number {
  let count = 0
  for (let i = token.indexOf('\n'); i !== -1; i = token.indexOf('\n', i + 1)) count++
  return count
}
