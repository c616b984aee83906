// Builds the dashboard's own ECharts into ../assets/echarts.min.js: only the
// charts and components src/echarts.js names, minified, with a zopfli gzip
// of it beside it (echarts.min.js.gz, which the server sends as is), and
// the licences of what it holds in ../assets/echarts.LICENSE. Prints the
// sizes and fails when the gzipped size is over budget. Run by `make
// echarts`; commit the results.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import zopfli from '@gfx/zopfli';
import * as esbuild from 'esbuild';
import { minify } from 'terser';

// The dashboard's first load (page, styles, scripts) must stay under 150 KB
// over the wire; ECharts is most of it.
export const budget = 132_000;

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, 'node_modules');

// ECharts' core always carries these, and the dashboard never uses them:
// each is replaced by a stand-in with the same exports. The browser tests
// draw every chart with this build.
const standIns = {
  // The Chinese locale: the pages are in English.
  'echarts/lib/i18n/langZH.js': `export { default } from './langEN.js';`,
  // The dark theme: the dashboard has its own colours.
  'echarts/lib/theme/dark.js': `export default {};`,
  // showLoading's spinner: the page shows its own.
  'echarts/lib/loading/default.js': `export default function () { return null; }`,
  // Decal patterns, drawn only with aria.decal or a series' decal.
  'echarts/lib/util/decal.js': `export function createOrUpdatePatternFromDecal() { return null; }`,
  // Dataset transforms: the charts carry their data in their series.
  'echarts/lib/data/helper/transform.js': `export function registerExternalTransform() {}
export function applyDataTransform() { throw new Error('this ECharts build has no dataset transforms'); }
export function ExternalSource() {}`,
  // Labels and rounded corners of bars in polar coordinates.
  'echarts/lib/label/sectorLabel.js': `export function createSectorCalculateTextPosition() { return function () {}; }
export function setSectorTextRotation() {}`,
  'zrender/lib/graphic/helper/roundSector.js': `export function buildPath() {}`,
  // Rewrites options in the forms of ECharts 2 to 4; go-echarts writes 5's.
  'echarts/lib/preprocessor/backwardCompat.js': `export default function () {}`,
};

const standInPlugin = {
  name: 'stand-ins',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/](echarts|zrender)[\\/]lib[\\/]/ }, (args) => {
      const name = args.path.slice(args.path.lastIndexOf('node_modules') + 'node_modules/'.length).replaceAll('\\', '/');
      if (!(name in standIns)) return undefined;
      return { contents: standIns[name], loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

async function version(pkg) {
  return JSON.parse(await readFile(join(modules, pkg, 'package.json'), 'utf8')).version;
}

export async function build(outDir = join(here, '..', 'assets')) {
  const bundled = await esbuild.build({
    entryPoints: [join(here, 'src', 'echarts.js')],
    bundle: true,
    format: 'iife',
    target: 'es2017',
    write: false,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [standInPlugin],
  });
  const minified = await minify(bundled.outputFiles[0].text, {
    ecma: 2017,
    compress: { passes: 2 },
    mangle: true,
    format: { comments: false },
  });
  const [echarts, zrender] = await Promise.all([version('echarts'), version('zrender')]);
  const banner = `/*! ECharts ${echarts} (Apache-2.0) with ZRender ${zrender} (BSD-3-Clause): line and bar charts, grid, canvas; built for credstats by dashboard/echarts-build. Licences: echarts.LICENSE */\n`;
  const code = banner + minified.code + '\n';
  const gzipped = await promisify(zopfli.gzip)(Buffer.from(code), { numiterations: 15 });
  if (gunzipSync(gzipped).toString() !== code) throw new Error('zopfli made a gzip that does not unpack to the script');

  const licence = [
    `ECharts ${echarts}, from the npm package echarts:\n\n` + await readFile(join(modules, 'echarts', 'LICENSE'), 'utf8'),
    await readFile(join(modules, 'echarts', 'NOTICE'), 'utf8'),
    `ZRender ${zrender}, from the npm package zrender:\n\n` + await readFile(join(modules, 'zrender', 'LICENSE'), 'utf8'),
  ].join('\n\n' + '-'.repeat(72) + '\n\n');

  const out = join(outDir, 'echarts.min.js');
  await mkdir(outDir, { recursive: true });
  await Promise.all([
    writeFile(out, code),
    writeFile(out + '.gz', gzipped),
    writeFile(join(outDir, 'echarts.LICENSE'), licence),
  ]);
  return { out, raw: Buffer.byteLength(code), gzipped: gzipped.length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const { out, raw, gzipped } = await build(values.out);
  console.log(`${out}: ${raw} bytes, ${gzipped} bytes gzipped (budget ${budget})`);
  if (gzipped > budget) {
    console.error(`ECharts is over budget: ${gzipped} > ${budget} bytes gzipped`);
    process.exit(1);
  }
}
