import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the UI on its own port and passes the API through to a
// backend (ALP_CONNEX_BACKEND, default http://127.0.0.1:8080).
const backend = process.env.ALP_CONNEX_BACKEND ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    // The manifest names the entry chunk and what it imports statically:
    // scripts/bundle-size.mjs sums exactly those (the initial JavaScript).
    manifest: true,
    sourcemap: false,
    // Hashed file names under assets/ (the backend caches them immutable).
    assetsDir: 'assets',
  },
  server: {
    proxy: { '/api': { target: backend, changeOrigin: false } },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
