import type { Command, Option } from 'commander'

/** One command of the tree, as the completion scripts need it. */
interface Node {
  /** Words from `gary` to it: `[]` for gary itself, `['node', 'ls']`. */
  path: string[]
  description: string
  options: Flag[]
  /** Words its first argument may be, when commander knows them. */
  choices: string[]
  children: Node[]
}

interface Flag {
  names: string[]
  description: string
  /** No value, a free value, a file, a directory, or one of these words. */
  value: 'none' | 'free' | 'file' | 'dir' | string[]
  repeatable: boolean
}

export type Shell = 'bash' | 'zsh' | 'fish'

/** A script that completes `gary`'s commands, flags and their values in `shell`. */
export function completionScript(program: Command, shell: Shell): string {
  const tree = walk(program, [])
  return shell === 'bash' ? bash(tree) : shell === 'zsh' ? zsh(tree) : fish(tree)
}

function walk(command: Command, path: string[]): Node {
  return {
    path,
    description: command.description(),
    options: [...command.options.filter((o) => !o.hidden).map(flag), HELP],
    choices: command.registeredArguments[0]?.argChoices ?? [],
    children: command.commands
      .filter((child) => child.name() !== 'help')
      .map((child) => walk(child, [...path, child.name()])),
  }
}

const HELP: Flag = { names: ['-h', '--help'], description: 'display help', value: 'none', repeatable: false }

function flag(option: Option): Flag {
  const names = [option.short, option.long].filter((name): name is string => name !== undefined)
  const placeholder = /<([^>]+)>/.exec(option.flags)?.[1] ?? ''
  const value =
    !option.required && !option.optional
      ? 'none'
      : option.argChoices !== undefined
        ? option.argChoices
        : placeholder === 'file'
          ? 'file'
          : placeholder === 'dir'
            ? 'dir'
            : 'free'
  return {
    names,
    description: option.description,
    value,
    repeatable: option.variadic || /repeatable/.test(option.description),
  }
}

function all(node: Node): Node[] {
  return [node, ...node.children.flatMap(all)]
}

function bash(tree: Node): string {
  const nodes = all(tree)
  const commandPaths = nodes.filter((n) => n.path.length > 0).map((n) => n.path.join(' '))
  const valueArms = nodes.flatMap((node) =>
    node.options
      .filter((o) => o.value !== 'none')
      .map((o) => {
        const patterns = o.names.map((name) => `"${node.path.join(' ')}:${name}"`).join('|')
        const reply =
          o.value === 'file'
            ? 'COMPREPLY=($(compgen -f -- "$cur"))'
            : o.value === 'dir'
              ? 'COMPREPLY=($(compgen -d -- "$cur"))'
              : o.value === 'free'
                ? 'COMPREPLY=()'
                : `COMPREPLY=($(compgen -W "${(o.value as string[]).join(' ')}" -- "$cur"))`
        return `    ${patterns}) ${reply}; return ;;`
      }),
  )
  const wordArms = nodes.map((node) => {
    const words = [
      ...node.choices,
      ...node.children.map((c) => c.path.at(-1)!),
      ...node.options.flatMap((o) => o.names),
    ]
    return `    "${node.path.join(' ')}") words="${words.join(' ')}" ;;`
  })
  return `# gary completion for bash: source <(gary completion bash)
_gary() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="" word words="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "\${cmd:+$cmd }$word" in
      ${commandPaths.map((p) => `"${p}"`).join('|')}) cmd="\${cmd:+$cmd }$word" ;;
    esac
  done
  case "$cmd:$prev" in
${valueArms.join('\n')}
  esac
  case "$cmd" in
${wordArms.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _gary gary
`
}

/** Text safe inside a zsh single-quoted `[description]`. */
function zshText(text: string): string {
  return text.replace(/\[/g, '(').replace(/\]/g, ')').replace(/'/g, "'\\''").replace(/:/g, '\\:')
}

function zshFunction(node: Node): string {
  return ['_gary', ...node.path].join('_').replace(/-/g, '_')
}

function zsh(tree: Node): string {
  const functions = all(tree).map((node) => {
    const specs = node.options.flatMap((o) =>
      o.names.map((name) => {
        const action =
          o.value === 'none'
            ? ''
            : o.value === 'file'
              ? ':file:_files'
              : o.value === 'dir'
                ? ':directory:_files -/'
                : o.value === 'free'
                  ? ': : '
                  : `:value:(${o.value.join(' ')})`
        return `'${o.repeatable ? '*' : ''}${name}[${zshText(o.description)}]${action}'`
      }),
    )
    if (node.children.length === 0) {
      const rest = node.choices.length > 0 ? `'1:value:(${node.choices.join(' ')})'` : "'*:: : '"
      return `${zshFunction(node)}() {\n  _arguments -s \\\n    ${[...specs, rest].join(' \\\n    ')}\n}`
    }
    const commands = node.children.map((c) => `'${zshText(c.path.at(-1)!)}:${zshText(c.description)}'`)
    const arms = node.children.map((c) => `      ${c.path.at(-1)}) ${zshFunction(c)} ;;`)
    return `${zshFunction(node)}() {
  local curcontext="$curcontext" state line
  _arguments -C \\
    ${[...specs, "'1: :->command'", "'*:: :->args'"].join(' \\\n    ')}
  case $state in
    command)
      local -a commands
      commands=(${commands.join(' ')})
      _describe -t commands 'gary command' commands ;;
    args)
      case $line[1] in
${arms.join('\n')}
      esac ;;
  esac
}`
  })
  return `#compdef gary
# gary completion for zsh: source <(gary completion zsh), or save as _gary in a folder of $fpath
${functions.join('\n\n')}

if [[ "\${funcstack[1]}" = _gary ]]; then
  _gary "$@"
else
  compdef _gary gary
fi
`
}

/** Text safe inside a fish single-quoted string. */
function fishText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")
}

function fish(tree: Node): string {
  const lines = [
    '# gary completion for fish: gary completion fish | source',
    'function __gary_at --description "the words given so far start with these gary command words"',
    '    set -l given (commandline -opc)',
    '    set -e given[1]',
    '    set -l words',
    '    for word in $given',
    "        string match -q -- '-*' $word; or set -a words $word",
    '    end',
    '    test (count $words) -ge (count $argv); or return 1',
    '    for i in (seq (count $argv))',
    '        test "$words[$i]" = "$argv[$i]"; or return 1',
    '    end',
    'end',
    'complete -c gary -f',
  ]
  for (const node of all(tree)) {
    const at = node.path.length === 0 ? '__fish_use_subcommand' : `__gary_at ${node.path.join(' ')}`
    const names = node.children.map((child) => child.path.at(-1)!)
    const here = names.length === 0 ? at : `${at}; and not __fish_seen_subcommand_from ${names.join(' ')}`
    for (const child of node.children) {
      lines.push(`complete -c gary -n '${here}' -a ${child.path.at(-1)} -d '${fishText(child.description)}'`)
    }
    if (node.choices.length > 0) lines.push(`complete -c gary -n '${here}' -a '${node.choices.join(' ')}'`)
    for (const o of node.options) {
      const names = o.names.map((name) =>
        name.startsWith('--') ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`,
      )
      const value =
        o.value === 'none'
          ? ''
          : o.value === 'file'
            ? ' -r -F'
            : o.value === 'dir'
              ? " -x -a '(__fish_complete_directories)'"
              : o.value === 'free'
                ? ' -x'
                : ` -x -a '${o.value.join(' ')}'`
      lines.push(`complete -c gary -n '${here}' ${names.join(' ')}${value} -d '${fishText(o.description)}'`)
    }
  }
  return `${lines.join('\n')}\n`
}
