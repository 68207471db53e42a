import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url))

/**
 * The standalone ES module every TensorFlow.js export ships (bert-studio-model.js): the studio's
 * model and tokenizer code for web pages, built once into out/inference/ and copied by the export.
 * @tensorflow/tfjs stays an import the page maps (its index.html maps it to tf.fesm.min.js);
 * everything else, @huggingface/tokenizers included, is bundled in.
 */
export default defineConfig({
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: path('./out/inference'),
    emptyOutDir: true,
    target: 'es2022',
    // Readable: analysts open it to see how the model runs.
    minify: false,
    sourcemap: false,
    lib: {
      entry: path('./src-main/core/inference/browser.ts'),
      formats: ['es'],
      fileName: () => 'bert-studio-model.js',
    },
    rollupOptions: {
      external: ['@tensorflow/tfjs'],
    },
  },
})
