// Shared pieces of the browser tests: the configuration from the
// environment, Chromium, pages that record every request, and reading the
// stored events back from ClickHouse.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export const collector = process.env.CREDSTATS_URL?.replace(/\/+$/, '');
const clickhouse = process.env.CREDSTATS_CH_HTTP?.replace(/\/+$/, '');
const database = process.env.CREDSTATS_CH_DB;

// Why the browser tests cannot run, or undefined when they can.
export const skipReason = collector ? undefined : 'CREDSTATS_URL is not set (see beacon-js/README.md)';
if (collector && !(clickhouse && database)) {
  throw new Error('CREDSTATS_URL is set, so CREDSTATS_CH_HTTP and CREDSTATS_CH_DB must be set too');
}

// The collector flags HeadlessChrome as a bot, so the tests present an
// ordinary desktop Chrome.
export const userAgent =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36';

export const networks = [
  'linkedin', 'twitter', 'facebook', 'messenger', 'whatsapp',
  'pinterest', 'telegram', 'weibo', 'email', 'other',
];

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

// The collector counts each (credential, type, network) once per IP and day,
// and every test request comes from 127.0.0.1: each scenario needs its own id.
export function freshCredential(label) {
  return `bt-${label}-${randomBytes(6).toString('hex')}`;
}

// A browser context that records every request made by any of its pages.
export async function newSession(browser, options = {}) {
  const context = await browser.newContext({ userAgent, ...options });
  const requests = [];
  context.on('request', (r) => requests.push(r));
  return {
    context,
    requests,
    // The events the beacon sent, decoded from the POST bodies and pixels.
    sent() {
      return requests.filter((r) => r.url().startsWith(collector + '/api/event')).map(decode);
    },
    async open(path) {
      const page = await context.newPage();
      await page.goto(collector + path);
      return page;
    },
    // Waits until the beacon has sent count events in total.
    async waitSent(count, timeout = 5000) {
      return poll(() => this.sent(), (s) => s.length >= count, timeout, `${count} events sent`);
    },
  };
}

// Each sent event, with how it went (via: the request's resource type; the
// event's own via, a shared link's tag, is tag) and the request itself, for
// its response.
function decode(request) {
  const url = new URL(request.url());
  const via = request.resourceType();
  const fields = url.pathname.endsWith('.gif')
    ? { transport: 'pixel', ...Object.fromEntries(url.searchParams) }
    : { transport: 'post', ...JSON.parse(request.postData()) };
  return { ...fields, tag: fields.via, via, request };
}

async function poll(read, done, timeout, what) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    await sleep(200);
  }
}

export async function query(sql) {
  const url = `${clickhouse}/?database=${encodeURIComponent(database)}`;
  const res = await fetch(url, { method: 'POST', body: sql + ' FORMAT JSONEachRow' });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse answered ${res.status}: ${text}`);
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

export const key = (e) => (e.network ? `${e.type}/${e.network}` : e.type);

// The stored events of one credential, sorted by key. The id is one the tests
// made, checked against the collector's own charset before it goes into the SQL.
export async function stored(credential) {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(credential)) throw new Error(`bad credential id ${credential}`);
  const rows = await query(
    `SELECT type, network, actor, source, bot, group_id, url_host, url_path, arrived_from, shared_by FROM events WHERE credential = '${credential}'`,
  );
  return rows.sort((a, b) => key(a).localeCompare(key(b)));
}

// Waits until count events of the credential are stored (the collector
// flushes batches every second or two), then returns them.
export function waitStored(credential, count, timeout = 10000) {
  return poll(() => stored(credential), (rows) => rows.length >= count, timeout, `${count} stored events of ${credential}`);
}

export { sleep };
