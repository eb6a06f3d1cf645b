// Prints the gzipped size of the initial JavaScript: the entry chunk of
// index.html and every chunk it imports statically (what the browser loads
// before the first page shows; the lazily loaded pages are not counted).
// Exits 1 above the budget.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET = 400 * 1024;
const dist = new URL('../dist/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(dist, '.vite/manifest.json'), 'utf8'));
const entry = Object.values(manifest).find((c) => c.isEntry);
if (!entry) throw new Error('no entry chunk in dist/.vite/manifest.json');

const seen = new Set();
const walk = (key, chunk) => {
  if (seen.has(chunk.file)) return;
  seen.add(chunk.file);
  for (const k of chunk.imports ?? []) walk(k, manifest[k]);
};
walk('index.html', entry);

let raw = 0;
let gz = 0;
for (const f of seen) {
  const b = readFileSync(join(dist, f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
}
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const lazy = Object.values(manifest).filter((c) => c.file.endsWith('.js') && !seen.has(c.file)).length;
console.log(`initial JavaScript: ${kb(gz)} gzipped (${kb(raw)} raw) in ${seen.size} file(s); budget ${kb(BUDGET)}; ${lazy} lazy chunk(s)`);
if (gz > BUDGET) {
  console.error('the initial JavaScript is over its budget');
  process.exit(1);
}
