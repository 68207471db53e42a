export * from './files.ts'
export * from './safetensors.ts'
export * from './huggingface.ts'
export * from './tfjs-format.ts'
