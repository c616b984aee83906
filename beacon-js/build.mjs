// Minifies src/beacon.js into dist/beacon.min.js (or --out DIR), prints the
// raw and gzipped sizes and fails when the gzipped size is over budget.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';

export const budget = 1000;

const here = dirname(fileURLToPath(import.meta.url));

export async function build(outDir = join(here, 'dist')) {
  const source = await readFile(join(here, 'src', 'beacon.js'), 'utf8');
  const result = await minify(source, {
    ecma: 2017,
    compress: { passes: 2 },
    mangle: true,
    format: { comments: false },
  });
  const code = result.code + '\n';
  const out = join(outDir, 'beacon.min.js');
  await mkdir(outDir, { recursive: true });
  await writeFile(out, code);
  const raw = Buffer.byteLength(code);
  const gzipped = gzipSync(code, { level: 9 }).length;
  return { out, raw, gzipped };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const { out, raw, gzipped } = await build(values.out);
  console.log(`${out}: ${raw} bytes, ${gzipped} bytes gzipped (budget ${budget})`);
  if (gzipped > budget) {
    console.error(`beacon is over budget: ${gzipped} > ${budget} bytes gzipped`);
    process.exit(1);
  }
}
