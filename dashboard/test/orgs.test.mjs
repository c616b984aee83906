// Two organizations on one server, in real Chromium: each one's dashboard
// and shared link show only its own credentials, by its own names, and its
// headline is what the query API answers its own key.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import {
  artifacts, base, credstats, figures, launch, newSession, poll, prefix, query, ready, signIn, skipReason, sql,
} from './harness.mjs';

const orgs = {
  acme: { name: `${prefix} Acme`, host: `${prefix}-acme.example`, credentials: [`${prefix}-a0`, `${prefix}-a1`, `${prefix}-a2`], badge: 'Acme Badge' },
  beta: { name: `${prefix} Beta`, host: `${prefix}-beta.example`, credentials: [`${prefix}-b0`, `${prefix}-b1`], badge: 'Beta Certificate' },
};
const group = `${prefix}-og`; // both organizations' credentials are in it

// seedOrg inserts n views and shares on the organization's host.
function seedOrg(org, n) {
  const ids = org.credentials.map((c) => `'${c}'`).join(', ');
  return sql(`INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
    url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)
SELECT generateUUIDv4(), toDateTime(now() - 3600 - (intHash32(number) % (10 * 86400))),
    arrayElement([${ids}], (number % ${org.credentials.length}) + 1), '${group}',
    if(number % 5 = 0, 'share', 'view'), if(number % 5 = 0, 'linkedin', ''), 'guest', 'beacon',
    cityHash64(number % 400), '${org.host}', '/c/x', '', '', 'DE', 'Chrome', 'Linux', 'desktop', ''
FROM numbers(${Number(n)})`);
}

describe('organizations', { skip: skipReason }, () => {
  let browser;

  before(async () => {
    browser = await launch();
    for (const [i, org] of Object.values(orgs).entries()) {
      org.id = await credstats('orgs', 'create', '--name', org.name, '--host', org.host);
      org.key = await credstats('keys', 'create', '--org', org.id, '--name', `browser test ${org.id}`,
        '--scope', 'dashboard', '--scope', 'stats:read', '--scope', 'registry:write');
      for (const [j, c] of org.credentials.entries()) {
        const res = await fetch(`${base}/api/v1/credentials/${c}`, {
          method: 'PUT', headers: { Authorization: `Bearer ${org.key}` }, body: JSON.stringify({ name: `${org.badge} ${j}` }),
        });
        assert.equal(res.status, 200, await res.text());
      }
      await seedOrg(org, 600 + 300 * i);
    }
    for (const org of Object.values(orgs)) {
      await poll(async () => (await query(org.key, { metrics: ['events'], date_range: 'all' })).results[0]?.metrics[0] ?? 0,
        (n) => n === (org === orgs.acme ? 600 : 900), 30000, `${org.id}'s events in the rollups`);
    }
    // Let the answers of earlier files' sections, cached for 10 s, run out.
    await new Promise((resolve) => setTimeout(resolve, 10500));
  });
  after(() => browser?.close());

  async function names(page) {
    return page.$$eval('#credentials tbody th', (ths) => ths.map((th) => ({ name: th.textContent.trim(), id: th.getAttribute('title') })));
  }

  for (const [who, other] of [['acme', 'beta'], ['beta', 'acme']]) {
    test(`${who}'s dashboard shows ${who}'s credentials by name and numbers, and nothing of ${other}'s`, async () => {
      const org = orgs[who];
      const { context, errors } = await newSession(browser);
      const page = await signIn(context, org.key, '/dashboard?range=30d');
      await ready(page);
      const rows = await names(page);
      assert.deepEqual(rows.map((r) => r.id).sort(), [...org.credentials].sort());
      assert.ok(rows.every((r) => r.name.startsWith(org.badge)), JSON.stringify(rows));
      const text = await page.textContent('main');
      for (const c of orgs[other].credentials) assert.ok(!text.includes(c), `${other}'s ${c} on ${who}'s page`);
      assert.ok(!text.includes(orgs[other].badge), `${other}'s names on ${who}'s page`);
      const api = await query(org.key, { metrics: ['views', 'shares'], date_range: '30d' });
      const shown = await figures(page);
      assert.equal(shown.views, api.results[0].metrics[0]);
      assert.equal(shown.shares, api.results[0].metrics[1]);
      await page.screenshot({ path: join(artifacts, `org-${who}.png`), fullPage: true });
      assert.deepEqual(errors, []);
      await context.close();
    });
  }

  test("an organization's shared link of a group both share shows only its own", async () => {
    const out = await credstats('links', 'create', '--org', orgs.beta.id, '--group', group, '--data-dir', process.env.CREDSTATS_DATA_DIR, '--base-url', base);
    const { context, errors } = await newSession(browser);
    const page = await context.newPage();
    await page.goto(out.split('\n').pop() + '?range=30d');
    await ready(page);
    const rows = await names(page);
    assert.deepEqual(rows.map((r) => r.id).sort(), [...orgs.beta.credentials].sort());
    const text = await page.textContent('main');
    assert.ok(!text.includes(orgs.acme.badge) && !orgs.acme.credentials.some((c) => text.includes(c)), 'Acme on Beta\'s link');
    assert.equal((await figures(page)).views, (await query(orgs.beta.key, { metrics: ['views'], date_range: '30d' })).results[0].metrics[0]);
    assert.deepEqual(errors, []);
    await context.close();
  });
});
