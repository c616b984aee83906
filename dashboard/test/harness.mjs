// Shared pieces of the dashboard's browser tests: configuration from the
// environment (scripts/test-browser.sh sets it), Chromium with the same
// flags as the beacon's tests, seeding ClickHouse, the credstats CLI, and
// the query API the page's numbers are checked against.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export const base = process.env.CREDSTATS_URL?.replace(/\/+$/, '');
const clickhouse = process.env.CREDSTATS_CH_HTTP?.replace(/\/+$/, '');
const database = process.env.CREDSTATS_CH_DB;
const bin = process.env.CREDSTATS_BIN;
const dsn = process.env.CREDSTATS_CLICKHOUSE;
const dataDir = process.env.CREDSTATS_DATA_DIR;

export const skipReason = base ? undefined : 'CREDSTATS_URL is not set (scripts/test-browser.sh sets it)';
if (base && !(clickhouse && database && bin && dsn && dataDir)) {
  throw new Error('CREDSTATS_URL is set, so CREDSTATS_CH_HTTP, CREDSTATS_CH_DB, CREDSTATS_BIN, CREDSTATS_CLICKHOUSE and CREDSTATS_DATA_DIR must be set too');
}

export const artifacts = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
mkdirSync(artifacts, { recursive: true });

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // The sandbox has no network but the registries: without these flags
    // Chromium keeps trying its own background connections.
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

// Every run seeds its own credentials and groups, so the tests never see
// each other's data or the beacon tests'.
export const prefix = `dt${randomBytes(3).toString('hex')}`;

export async function sql(text) {
  const res = await fetch(`${clickhouse}/?database=${encodeURIComponent(database)}`, { method: 'POST', body: text });
  const body = await res.text();
  if (!res.ok) throw new Error(`ClickHouse answered ${res.status}: ${body}`);
  return body;
}

// seed inserts n events spread over the last 25 days (none in the last
// hour, so range edges do not move under the test): 12 credentials
// PREFIX-c0..c11 in 3 groups PREFIX-g0..g2 (credential i in group i % 3),
// every type, network and actor, a few countries and referrers, and 2% bots
// that no count may include.
export function seed(n) {
  return sql(`INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
    url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)
SELECT
    generateUUIDv4(),
    toDateTime(now() - 3600 - (intHash32(number) % (25 * 86400))),
    concat('${prefix}-c', toString(intHash32(number * 7) % 12)),
    concat('${prefix}-g', toString((intHash32(number * 7) % 12) % 3)),
    arrayElement(['view', 'view', 'view', 'view', 'view', 'view', 'view', 'share', 'share', 'download', 'verify', 'linkedin_add', 'link_copy'], (number % 13) + 1),
    if(number % 13 IN (7, 8), arrayElement(['linkedin', 'twitter', 'facebook', 'messenger', 'whatsapp', 'pinterest', 'telegram', 'weibo', 'email', 'other'], (intHash32(number * 3) % 10) + 1), ''),
    if(intHash32(number * 11) % 4 = 0, 'recipient', 'guest'),
    'beacon',
    cityHash64(number % 3000),
    'credentials.example.org',
    '/c/x',
    arrayElement(['', 'www.linkedin.com', 't.co', 'mail.google.com', 'www.facebook.com'], (number % 5) + 1),
    '',
    arrayElement(['US', 'DE', 'GB', 'IN', 'FR', 'BR', ''], (number % 7) + 1),
    'Chrome', 'Linux', 'desktop',
    if(number % 50 = 49, 'crawler', '')
FROM numbers(${Number(n)})`);
}

// seedCredentials inserts n events (views, shares and LinkedIn adds, no
// bots) spread over the given credentials of one group in the last 20 days,
// for pages that must show particular ids, such as long ones.
export function seedCredentials(n, credentials, group) {
  const ids = credentials.map((c) => `'${c}'`).join(', ');
  return sql(`INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
    url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)
SELECT
    generateUUIDv4(),
    toDateTime(now() - 3600 - (intHash32(number) % (20 * 86400))),
    arrayElement([${ids}], (number % ${credentials.length}) + 1),
    '${group}',
    arrayElement(['view', 'view', 'view', 'view', 'share', 'linkedin_add'], (intHash32(number * 5) % 6) + 1),
    if(intHash32(number * 5) % 6 = 4, 'linkedin', ''),
    if(number % 3 = 0, 'recipient', 'guest'),
    'beacon', cityHash64(number % 700), 'credentials.example.org', '/c/x', '', '', 'DE',
    'Chrome', 'Linux', 'desktop', ''
FROM numbers(${Number(n)})`);
}

export async function credstats(...args) {
  const { stdout } = await promisify(execFile)(bin, [...args, '--clickhouse', dsn], { env: { ...process.env } });
  return stdout.trim();
}

export const links = {
  create: (flag, value) => credstats('links', 'create', flag, value, '--data-dir', dataDir, '--base-url', base),
  revoke: (id) => credstats('links', 'revoke', id, '--data-dir', dataDir),
};

export async function createKey(...scopes) {
  return credstats('keys', 'create', '--name', `browser test ${prefix}`, ...scopes.flatMap((s) => ['--scope', s]));
}

// query asks /api/v1/query, the API the dashboard's numbers must match.
export async function query(key, q) {
  const res = await fetch(`${base}/api/v1/query`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(q),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`/api/v1/query answered ${res.status}: ${body}`);
  return JSON.parse(body);
}

export async function poll(read, done, timeout, what) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    await sleep(250);
  }
}

// A browser context that records every request and every console error.
export async function newSession(browser, options = {}) {
  const context = await browser.newContext(options);
  const requests = [];
  const errors = [];
  context.on('request', (r) => requests.push(r.url()));
  context.on('page', (p) => {
    p.on('pageerror', (e) => errors.push(String(e)));
    p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  });
  return { context, requests, errors };
}

export async function signIn(context, key, path = '/dashboard') {
  const page = await context.newPage();
  await page.goto(base + path);
  await page.fill('#key', key);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/dashboard/login')), page.click('button[type=submit]')]);
  return page;
}

// ready waits until every section has loaded and every chart has drawn.
export async function ready(page, timeout = 20000) {
  await page.waitForFunction(() => {
    const sections = [...document.querySelectorAll('[data-section]')];
    const pending = sections.some((s) => s.hasAttribute('data-deferred') && s.getAttribute('data-state') !== 'loaded' && s.getAttribute('data-state') !== 'failed');
    const charts = [...document.querySelectorAll('[data-option]')];
    return sections.length > 0 && !pending && charts.every((c) => c.getAttribute('data-drawn') === 'done');
  }, null, { timeout });
}

// canvases returns, for each chart, whether its canvas has pixels drawn:
// its image differs from a blank canvas of the same size.
export function drawnCharts(page) {
  return page.evaluate(() => [...document.querySelectorAll('[data-chart]')].map((el) => {
    const canvas = el.querySelector('canvas');
    if (!canvas) return { chart: el.getAttribute('data-chart'), drawn: false, why: 'no canvas' };
    const blank = document.createElement('canvas');
    blank.width = canvas.width;
    blank.height = canvas.height;
    return { chart: el.getAttribute('data-chart'), drawn: canvas.width > 0 && canvas.toDataURL() !== blank.toDataURL(), size: [canvas.width, canvas.height] };
  }));
}

// figures reads the headline numbers from the page.
export function figures(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-metric][data-value]')]
    .map((el) => [el.getAttribute('data-metric'), Number(el.getAttribute('data-value'))])));
}

export { sleep };
