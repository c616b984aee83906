// The checked-in ECharts must be a fresh build of dashboard/echarts-build
// (make echarts), within its budget, like the beacon's dist.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const build = fileURLToPath(new URL('../echarts-build/', import.meta.url));
const assets = fileURLToPath(new URL('../assets/', import.meta.url));
const skip = existsSync(join(build, 'node_modules')) ? undefined : 'dashboard/echarts-build has no node_modules (make echarts-deps)';

test('assets/echarts.min.js, its gzip and its licences are a fresh build of echarts-build', { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'echarts-build-'));
  try {
    const out = execFileSync(process.execPath, ['build.mjs', '--out', dir], { cwd: build, stdio: 'pipe' }).toString();
    console.log(out.trim().replace(dir, 'dashboard/assets'));
    for (const name of ['echarts.min.js', 'echarts.min.js.gz', 'echarts.LICENSE']) {
      const fresh = await readFile(join(dir, name));
      assert.ok(fresh.equals(await readFile(join(assets, name))), `assets/${name} is stale: run make echarts and commit it`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
