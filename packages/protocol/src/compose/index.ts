export * from './apply-file.js'
export {
  type ComposeNote,
  type ComposeOptions,
  type ComposeResult,
  convertCompose,
  isComposeFile,
  type SpecInput,
} from './convert.js'
export { parseEnvFile } from './env-file.js'
export { interpolate } from './interpolate.js'
export { shellWords } from './shell-words.js'
