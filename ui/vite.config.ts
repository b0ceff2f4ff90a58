// Vite builds the Tauri frontend into ui/dist; Vitest runs the view tests under jsdom.
// JSX goes through esbuild's automatic runtime, so no React plugin is needed.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  clearScreen: false,
  esbuild: { jsx: 'automatic' },
  server: { port: 1420, strictPort: true },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // WebKitGTK (Linux) and WKWebView run the app; both handle ES2021.
    target: ['es2021', 'safari15'],
    sourcemap: false,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
  },
});
