// The checked-in build must match the source, and stay within budget.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { budget } from '../build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist', 'beacon.min.js');

test('dist/beacon.min.js is a fresh build of src/beacon.js', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'beacon-build-'));
  try {
    execFileSync(process.execPath, ['build.mjs', '--out', dir], { cwd: root, stdio: 'pipe' });
    const fresh = await readFile(join(dir, 'beacon.min.js'));
    assert.ok(fresh.equals(await readFile(dist)), 'dist/beacon.min.js is stale: run `node build.mjs` in beacon-js and commit it');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test(`the beacon is at most ${budget} bytes gzipped`, async () => {
  const size = gzipSync(await readFile(dist), { level: 9 }).length;
  assert.ok(size <= budget, `${size} bytes gzipped`);
});
