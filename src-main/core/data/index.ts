export * from './rng.ts'
export * from './token-cache.ts'
export * from './instances.ts'
