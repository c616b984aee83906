// The dashboard in real headless Chromium against a real `credstats serve`
// with seeded events in the real ClickHouse.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import {
  artifacts, base, createKey, drawnCharts, figures, launch, links, newSession, poll, prefix, query,
  ready, seed, signIn, skipReason,
} from './harness.mjs';

const seeded = 20000;
const group = `${prefix}-g1`; // credentials c1, c4, c7, c10
const otherGroup = `${prefix}-g2`;
const credential = `${prefix}-c4`;
const otherCredential = `${prefix}-c5`; // in g2
const headline = ['views', 'unique_viewers', 'shares', 'share_rate', 'downloads', 'verifications', 'linkedin_adds'];

const is = (dim, value) => ['is', dim, [value]];

describe('dashboard', { skip: skipReason }, () => {
  let browser, dashKey, statsKey;

  before(async () => {
    browser = await launch();
    [dashKey, statsKey] = await Promise.all([createKey('dashboard'), createKey('stats:read')]);
    await seed(seeded);
    // The rollups fill after the events table: wait until the API, which
    // reads the rollups, counts every seeded event that is not a bot.
    await poll(async () => {
      const r = await query(statsKey, { metrics: ['events'], date_range: 'all', filters: [['contains', 'credential', [prefix]]] });
      return r.results[0]?.metrics[0] ?? 0;
    }, (n) => n === seeded - seeded / 50, 30000, 'the seeded events in the rollups');
    // A section's answer serves the fetches that follow its page for 10 s
    // (flightKeep): let those of the tests before this file, which saw
    // other data, run out.
    await new Promise((resolve) => setTimeout(resolve, 10500));
  });
  after(() => browser?.close());

  // apiFigures asks the query API for the headline of a range and filters.
  async function apiFigures(dateRange, filters) {
    const [totals, actors] = await Promise.all([
      query(statsKey, { metrics: headline, date_range: dateRange, filters }),
      query(statsKey, { metrics: ['views'], dimensions: ['actor'], date_range: dateRange, filters }),
    ]);
    const out = Object.fromEntries(headline.map((m, i) => [m, totals.results[0]?.metrics[i] ?? 0]));
    for (const row of actors.results) out[`${row.dimensions[0]}_views`] = row.metrics[0];
    out.recipient_views ??= 0;
    out.guest_views ??= 0;
    return out;
  }

  function assertSameFigures(page, api) {
    for (const [metric, want] of Object.entries(api)) {
      const got = page[metric];
      assert.ok(got !== undefined, `the page shows no ${metric}`);
      if (metric === 'share_rate') assert.ok(Math.abs(got - want) < 1e-9, `share_rate: page ${got}, API ${want}`);
      else assert.equal(got, want, `${metric}: page ${got}, API ${want}`);
    }
  }

  function assertAllDrawn(charts, want) {
    assert.deepEqual(charts.map((c) => c.chart).sort(), [...want].sort(), 'the charts on the page');
    for (const c of charts) assert.ok(c.drawn, `chart ${c.chart} is blank: ${JSON.stringify(c)}`);
  }

  function assertLocalOnly(requests) {
    const foreign = requests.filter((u) => !u.startsWith(base + '/') && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(foreign, [], 'requests to another host');
  }

  test('signed-out readers are sent to sign in', async () => {
    const { context } = await newSession(browser);
    const page = await context.newPage();
    for (const path of ['/dashboard', `/dashboard/credentials/${credential}?range=7d`]) {
      const res = await page.goto(base + path);
      assert.equal(new URL(page.url()).pathname, '/dashboard/login', `${path} went to ${page.url()}`);
      assert.equal(new URL(page.url()).searchParams.get('next'), path);
      assert.equal(res.status(), 200);
      await page.waitForSelector('#key');
    }
    const fragment = await fetch(`${base}/dashboard/sections/headline`, { redirect: 'manual' });
    assert.equal(fragment.status, 401, 'a section without a session');
    const csv = await fetch(`${base}/dashboard/export.csv`, { redirect: 'manual' });
    assert.equal(csv.status, 401, 'a CSV without a session');
    const forged = await fetch(`${base}/dashboard`, { redirect: 'manual', headers: { Cookie: 'credstats_session=0123456789abcdef.9999999999.AAAA' } });
    assert.equal(forged.status, 303, 'a forged session');
    await context.close();
  });

  test('only a valid key with the dashboard scope signs in', async () => {
    const { context } = await newSession(browser);
    const page = await context.newPage();
    await page.goto(`${base}/dashboard/login`);
    await page.fill('#key', 'csk_0123456789abcdef_' + '0'.repeat(48));
    await page.click('button[type=submit]');
    await page.waitForSelector('.note.err');
    assert.match(await page.textContent('.note.err'), /not valid/);
    await page.fill('#key', statsKey);
    await page.click('button[type=submit]');
    await page.waitForSelector('.note.err');
    assert.match(await page.textContent('.note.err'), /lacks the dashboard scope/);
    assert.equal(new URL(page.url()).pathname, '/dashboard/login');
    await context.close();
  });

  test('overview: every chart draws, the numbers equal the query API, nothing leaves this host', async () => {
    for (const [name, viewport] of [['desktop', { width: 1366, height: 900 }], ['phone', { width: 390, height: 844 }]]) {
      const { context, requests, errors } = await newSession(browser, { viewport, deviceScaleFactor: name === 'phone' ? 2 : 1 });
      const page = await signIn(context, dashKey, `/dashboard?group=${group}`);
      assert.equal(new URL(page.url()).search, `?group=${group}`, 'sign-in returns to the page asked for');
      await ready(page);
      assertAllDrawn(await drawnCharts(page), ['trend', 'networks', 'actors', 'funnel']);
      assertSameFigures(await figures(page), await apiFigures('30d', [is('group', group)]));
      const top = await page.$$eval('#credentials tbody a', (as) => as.map((a) => a.textContent));
      assert.deepEqual([...top].sort(), [1, 4, 7, 10].map((i) => `${prefix}-c${i}`).sort(), 'top credentials of the group');
      await page.screenshot({ path: join(artifacts, `overview-${name}.png`), fullPage: true });

      const res = await page.goto(`${base}/dashboard`);
      assert.match(res.headers()['content-security-policy'], /default-src 'self'; script-src 'self'/);
      await ready(page);
      assertAllDrawn(await drawnCharts(page), ['trend', 'networks', 'actors', 'funnel']);
      assertSameFigures(await figures(page), await apiFigures('30d', []));
      assert.doesNotMatch(await page.content(), /https?:\/\/(?!127\.0\.0\.1|localhost)/, 'the page names another host');
      assertLocalOnly(requests);
      assert.deepEqual(errors, [], 'errors in the console');
      await context.close();
    }
  });

  test('the range and filters are in the address, and the numbers follow them', async () => {
    const { context, requests, errors } = await newSession(browser);
    const page = await signIn(context, dashKey);
    await ready(page);
    await Promise.all([page.waitForURL(/range=7d/), page.click('.presets a:text-is("7 days")')]);
    await ready(page);
    assertSameFigures(await figures(page), await apiFigures('7d', []));

    await page.fill('input[name=group]', group);
    await Promise.all([page.waitForURL(/group=/), page.click('.filters button')]);
    await ready(page);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('range'), '7d');
    assert.equal(url.searchParams.get('group'), group);
    assertSameFigures(await figures(page), await apiFigures('7d', [is('group', group)]));

    const from = new Date(Date.now() - 20 * 86400e3).toISOString().slice(0, 10);
    const to = new Date(Date.now() - 5 * 86400e3).toISOString().slice(0, 10);
    await page.click('details.custom summary');
    await page.fill('input[name=from]', from);
    await page.fill('input[name=to]', to);
    await Promise.all([page.waitForURL(/range=custom/), page.click('.popover button')]);
    await ready(page);
    const custom = new URL(page.url()).searchParams;
    assert.deepEqual([custom.get('range'), custom.get('from'), custom.get('to'), custom.get('group')], ['custom', from, to, group]);
    assertSameFigures(await figures(page), await apiFigures([from, to], [is('group', group)]));
    assertAllDrawn(await drawnCharts(page), ['trend', 'networks', 'actors', 'funnel']);

    // The same address in a new tab shows the same view.
    const again = await context.newPage();
    await again.goto(page.url());
    await ready(again);
    assert.deepEqual(await figures(again), await figures(page));
    assertLocalOnly(requests);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('sections load on their own, each drawn when it arrives', async () => {
    const { context, requests, errors } = await newSession(browser);
    const page = await signIn(context, dashKey, `/dashboard?group=${group}&load=async`);
    assert.ok(await page.$$eval('[data-section][data-deferred]', (s) => s.length) >= 8, 'sections left to the browser');
    await ready(page);
    assertAllDrawn(await drawnCharts(page), ['trend', 'networks', 'actors', 'funnel']);
    assertSameFigures(await figures(page), await apiFigures('30d', [is('group', group)]));
    assert.ok(requests.some((u) => u.includes('/dashboard/sections/trend')), 'the trend was fetched');
    assertLocalOnly(requests);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("a credential's page has the same charts for that credential", async () => {
    for (const [name, viewport] of [['desktop', { width: 1366, height: 900 }], ['phone', { width: 390, height: 844 }]]) {
      const { context, requests, errors } = await newSession(browser, { viewport, deviceScaleFactor: name === 'phone' ? 2 : 1 });
      const page = await signIn(context, dashKey, `/dashboard?group=${group}`);
      await ready(page);
      await Promise.all([page.waitForURL(/\/dashboard\/credentials\//), page.click(`#credentials a:text-is("${credential}")`)]);
      await ready(page);
      assert.equal(new URL(page.url()).pathname, `/dashboard/credentials/${credential}`);
      assertAllDrawn(await drawnCharts(page), ['trend', 'networks', 'actors', 'funnel']);
      assertSameFigures(await figures(page), await apiFigures('30d', [is('credential', credential)]));
      assert.equal(await page.$('#credentials'), null, 'no top credentials on one credential');
      await page.screenshot({ path: join(artifacts, `credential-${name}.png`), fullPage: true });
      assertLocalOnly(requests);
      assert.deepEqual(errors, []);
      await context.close();
    }
  });

  test('Download CSV gives what the page shows', async () => {
    const { context } = await newSession(browser, { acceptDownloads: true });
    const page = await signIn(context, dashKey, `/dashboard?group=${group}&range=7d`);
    await ready(page);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    const csv = (await (await download.createReadStream()).toArray()).join('');
    const lines = csv.trim().split('\n');
    assert.match(lines[0], /views/);
    const api = await query(statsKey, { metrics: ['views'], date_range: '7d', filters: [is('group', group)] });
    const viewsColumn = lines[0].split(',').indexOf('views');
    const total = lines.slice(1).reduce((sum, l) => sum + Number(l.split(',')[viewsColumn]), 0);
    assert.equal(total, api.results[0].metrics[0], 'views in the CSV against the API');

    const res = await page.request.get(`${base}/dashboard/export.csv?section=credentials&group=${group}`);
    assert.equal(res.status(), 200);
    const names = (await res.text()).trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    assert.deepEqual(names.sort(), [1, 4, 7, 10].map((i) => `${prefix}-c${i}`).sort());
    await context.close();
  });

  test('a group link sees its group only, and cannot reach other credentials', async () => {
    const url = await links.create('--group', group);
    assert.match(url, new RegExp(`^${base}/dashboard/s/[0-9a-f]{16}\\.[A-Za-z0-9_-]+$`));
    const { context, requests, errors } = await newSession(browser);
    const page = await context.newPage();
    await page.goto(url);
    await ready(page);
    assertAllDrawn(await drawnCharts(page), ['trend', 'networks', 'actors', 'funnel']);
    assertSameFigures(await figures(page), await apiFigures('30d', [is('group', group)]));
    const top = await page.$$eval('#credentials tbody a', (as) => as.map((a) => a.textContent));
    assert.deepEqual([...top].sort(), [1, 4, 7, 10].map((i) => `${prefix}-c${i}`).sort());
    assert.equal(await page.$('input[name=group]'), null, 'no group filter on a group link');
    assert.equal(await page.$('form[action="/dashboard/logout"]'), null, 'no sign-out on a link');

    // Asking the address for another group does not widen the scope.
    await page.goto(`${url}?group=${otherGroup}&range=all`);
    await ready(page);
    assertSameFigures(await figures(page), await apiFigures('all', [is('group', group)]));
    await page.goto(`${url}?credential=${otherCredential}&range=all`);
    await ready(page);
    assert.equal((await figures(page)).views, 0, 'another group\'s credential as a filter shows nothing');

    // Its credentials open; others are not there.
    const own = await page.goto(`${url}/credentials/${credential}`);
    assert.equal(own.status(), 200);
    await ready(page);
    assertSameFigures(await figures(page), await apiFigures('30d', [is('credential', credential)]));
    assert.equal((await page.goto(`${url}/credentials/${otherCredential}`)).status(), 404);
    const section = await page.request.get(`${url}/credentials/${otherCredential}/sections/headline?range=all`);
    assert.doesNotMatch(await section.text(), /data-value="[1-9]/, 'a section of another group\'s credential shows numbers');
    const csv = await page.request.get(`${url}/export.csv?section=credentials&group=${otherGroup}&range=all`);
    const names = (await csv.text()).trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    assert.deepEqual(names.sort(), [1, 4, 7, 10].map((i) => `${prefix}-c${i}`).sort(), 'the CSV of a group link');

    // The link is no key to the rest of the dashboard.
    await page.goto(`${base}/dashboard`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/login');
    const tampered = url.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    assert.equal((await page.goto(tampered)).status(), 404, 'a tampered link');
    assertLocalOnly(requests);
    assert.deepEqual(errors.filter((e) => !/404|Failed to load resource/.test(e)), []);
    await context.close();
  });

  test('a credential link shows that credential only, until it is revoked', async () => {
    const url = await links.create('--credential', credential);
    const id = url.split('/').pop().split('.')[0];
    const { context, requests } = await newSession(browser);
    const page = await context.newPage();
    await page.goto(url);
    await ready(page);
    assert.match(await page.textContent('h1'), new RegExp(credential));
    assertAllDrawn(await drawnCharts(page), ['trend', 'networks', 'actors', 'funnel']);
    assertSameFigures(await figures(page), await apiFigures('30d', [is('credential', credential)]));
    assert.equal((await page.goto(`${url}/credentials/${otherCredential}`)).status(), 404);
    const other = await page.request.get(`${url}/credentials/${otherCredential}/export.csv?range=all`);
    assert.equal(other.status(), 404);
    await page.goto(`${url}?credential=${otherCredential}&group=${otherGroup}&range=all`);
    await ready(page);
    assertSameFigures(await figures(page), await apiFigures('all', [is('credential', credential)]));
    assertLocalOnly(requests);

    await links.revoke(id);
    // A running server trusts a checked link for a few seconds.
    await poll(async () => (await fetch(url)).status, (s) => s === 410, 15000, 'the revoked link to answer 410');
    await context.close();
  });

  test('an empty view says how to embed the beacon', async () => {
    const { context } = await newSession(browser);
    const page = await signIn(context, dashKey, `/dashboard?group=${prefix}-nothing-here`);
    await ready(page);
    assert.match(await page.textContent('.onboard'), /No events yet/);
    assert.match(await page.textContent('.snippet'), new RegExp(`<script defer src="${base}/beacon.js"`));
    assert.match(await page.textContent('#trend'), /No activity in this period/);
    await context.close();
  });

  test('signing out ends the session', async () => {
    const { context } = await newSession(browser);
    const page = await signIn(context, dashKey);
    const cookie = (await context.cookies()).find((c) => c.name === 'credstats_session');
    assert.ok(cookie.httpOnly, 'the session cookie is HttpOnly');
    assert.equal(cookie.sameSite, 'Strict');
    await Promise.all([page.waitForURL(/signed_out/), page.click('form[action="/dashboard/logout"] button')]);
    await page.goto(`${base}/dashboard`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/login');
    await context.close();
  });
});
