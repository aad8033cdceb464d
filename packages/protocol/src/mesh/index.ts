export * from './choose.js'
export * from './endpoint.js'
export * from './services.js'
