// Drives the demo credential page in headless Chromium against a running
// `credstats serve` and checks what the collector stored in ClickHouse.
import assert from 'node:assert/strict';
import { mkdir, stat } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import {
  collector, freshCredential, key, launch, networks, newSession, query, skipReason, sleep, stored, waitStored,
} from './harness.mjs';

const artifacts = new URL('./artifacts/', import.meta.url);
const keys = (events) => events.map(key).sort();

describe('beacon in a real browser', { skip: skipReason, timeout: 120000 }, () => {
  let browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  // Nothing but the collector is contacted, and nothing is kept in cookies.
  async function assertPrivate(session, page) {
    const elsewhere = session.requests.map((r) => r.url()).filter((u) => !u.startsWith(collector + '/'));
    assert.deepEqual(elsewhere, [], 'requests to other hosts');
    assert.deepEqual(await session.context.cookies(), [], 'cookies in the browser context');
    assert.equal(await page.evaluate(() => document.cookie), '', 'document.cookie');
  }

  test('a recipient link marks this browser as the recipient, a fresh browser is a guest', async () => {
    const id = freshCredential('recipient');
    const recipient = await newSession(browser);
    const page = await recipient.open(`/demo/${id}?lang=en&recipient=true#verify`);

    await recipient.waitSent(1);
    assert.equal(page.url(), `${collector}/demo/${id}?lang=en#verify`, 'the address bar keeps other parameters and the hash');
    assert.equal(await page.evaluate((k) => localStorage.getItem(k), `credstats_recipient:${id}`), 'true');
    let rows = await waitStored(id, 1);
    assert.deepEqual(
      rows.map((r) => [r.type, r.actor, r.source, r.bot]),
      [['view', 'recipient', 'beacon', 0]],
    );

    // The reload's view repeats the first one, so the collector drops it:
    // what it was sent shows the actor, and a new download proves it stored.
    await page.reload();
    const views = (await recipient.waitSent(2)).filter((e) => e.type === 'view');
    assert.equal(views.length, 2);
    assert.equal(views[1].actor, 'recipient', 'the view after the reload');
    const answer = await views[1].request.response();
    assert.equal(await answer?.headerValue('x-credstats-dropped'), 'duplicate', 'the collector drops the repeated view');
    assert.equal(page.url(), `${collector}/demo/${id}?lang=en#verify`);
    await page.click('[data-credstats="download"]');
    rows = await waitStored(id, 2);
    assert.deepEqual(rows.map((r) => [r.type, r.actor]), [['download', 'recipient'], ['view', 'recipient']]);
    await assertPrivate(recipient, page);
    await recipient.context.close();

    const guest = await newSession(browser);
    const guestPage = await guest.open(`/demo/${id}`);
    const [view] = await guest.waitSent(1);
    assert.equal(view.actor, 'guest');
    assert.equal(await guestPage.evaluate((k) => localStorage.getItem(k), `credstats_recipient:${id}`), null);
    await guestPage.click('[data-credstats="verify"]');
    // A guest is another person than the recipient, even from the same
    // address: the guest's view counts too.
    rows = await waitStored(id, 4);
    assert.deepEqual(
      rows.map((r) => [r.type, r.actor]).sort(),
      [['download', 'recipient'], ['verify', 'guest'], ['view', 'guest'], ['view', 'recipient']],
    );
    await assertPrivate(guest, guestPage);
    await guest.context.close();
  });

  test('every marked element sends its type and network, once, with no cookie and no other host', async () => {
    const id = freshCredential('buttons');
    const session = await newSession(browser);
    const page = await session.open(`/demo/${id}`);
    const marked = await page.$$eval('[data-credstats]', (els) =>
      els.map((el) => ({ type: el.dataset.credstats, network: el.dataset.network })),
    );
    const want = ['download', 'link_copy', 'linkedin_add', 'verify', ...networks.map((n) => `share/${n}`)].sort();
    assert.deepEqual(keys(marked), want, 'the demo page marks every action');

    const group = await page.$eval('script[data-credential]', (s) => s.dataset.group);
    for (let i = 0; i < marked.length; i++) {
      await page.locator('[data-credstats]').nth(i).click();
    }
    const sent = await session.waitSent(marked.length + 1);
    assert.deepEqual(keys(sent), ['view', ...want].sort(), 'one view per page load and one event per click');
    for (const e of sent) {
      assert.equal(e.transport, 'post');
      assert.equal(e.credential, id);
      assert.equal(e.actor, 'guest');
      assert.equal(e.url, `${collector}/demo/${id}`);
    }

    const rows = await waitStored(id, marked.length + 1);
    assert.deepEqual(keys(rows), ['view', ...want].sort(), 'stored events');
    const url = new URL(`${collector}/demo/${id}`);
    for (const r of rows) {
      assert.deepEqual(
        { actor: r.actor, source: r.source, bot: r.bot, group: r.group_id, path: r.url_path },
        { actor: 'guest', source: 'beacon', bot: 0, group: group ?? '', path: url.pathname },
        key(r),
      );
      assert.ok([url.host, url.hostname].includes(r.url_host), `${key(r)}: url_host ${r.url_host}`);
    }
    await assertPrivate(session, page);
    await session.context.close();
  });

  test('the JS API, its early queue and elements added later are counted', async () => {
    const id = freshCredential('api');
    const session = await newSession(browser);
    // Plausible's snippet: calls made before the script loads wait in .q.
    await session.context.addInitScript(() => {
      window.credstats = window.credstats || function () { (window.credstats.q = window.credstats.q || []).push(arguments); };
      window.credstats('share', { network: 'weibo' });
    });
    const page = await session.open(`/demo/${id}`);
    await session.waitSent(2);
    await page.evaluate(() => window.credstats('share', { network: 'messenger' }));
    await page.evaluate(() => {
      const a = document.createElement('a');
      a.href = '#';
      a.dataset.credstats = 'share';
      a.dataset.network = 'pinterest';
      a.innerHTML = '<span id="late-child">Pin it</span>';
      document.querySelector('main').append(a);
    });
    await page.click('#late-child');

    const want = ['share/messenger', 'share/pinterest', 'share/weibo', 'view'];
    assert.deepEqual(keys(await session.waitSent(4)), want);
    assert.deepEqual(keys(await waitStored(id, 4)), want);
    await assertPrivate(session, page);
    await session.context.close();
  });

  test('a share tags the link it shares; opening it attributes the view to that network and sharer', async () => {
    const id = freshCredential('reach');
    const sharer = await newSession(browser);
    const page = await sharer.open(`/demo/${id}?recipient=true`);
    await sharer.waitSent(1);
    // The demo's LinkedIn button: the beacon hands the page the tagged link.
    await page.click('[data-credstats="share"][data-network="linkedin"]');
    const tagged = `${collector}/demo/${id}?cs=linkedin.r`;
    assert.equal(await page.getAttribute('[data-network="linkedin"]', 'data-link'), tagged);
    assert.ok((await page.textContent('#toast')).endsWith(`The link it shares: ${tagged}`), 'the demo shows the tagged link');
    // The JS API answers it, and a share link carrying the page's address
    // carries the tagged one once clicked.
    assert.equal(await page.evaluate(() => credstats('share', { network: 'email' })), `${collector}/demo/${id}?cs=email.r`);
    const href = await page.evaluate(() => {
      const a = document.createElement('a');
      a.href = 'https://twitter.com/intent/tweet?url=' + encodeURIComponent(location.href) + '&text=Mine';
      a.dataset.credstats = 'share';
      a.dataset.network = 'twitter';
      a.textContent = 'Tweet';
      a.addEventListener('click', (e) => e.preventDefault());
      document.querySelector('main').append(a);
      a.click();
      return a.href;
    });
    assert.equal(href, 'https://twitter.com/intent/tweet?url=' + encodeURIComponent(`${collector}/demo/${id}?cs=twitter.r`) + '&text=Mine');
    let rows = await waitStored(id, 4);
    assert.deepEqual(
      rows.map((r) => [r.type, r.network, r.arrived_from, r.shared_by]),
      [['share', 'email', 'email', 'recipient'], ['share', 'linkedin', 'linkedin', 'recipient'], ['share', 'twitter', 'twitter', 'recipient'], ['view', '', 'direct', '']],
    );
    await assertPrivate(sharer, page);
    await sharer.context.close();

    // Someone opens the shared link: the view is LinkedIn's, by the
    // recipient's share, and the tag leaves the address bar.
    const viewer = await newSession(browser);
    const opened = await viewer.open(`/demo/${id}?cs=linkedin.r#verify`);
    const [view] = await viewer.waitSent(1);
    assert.equal(view.tag, 'linkedin.r');
    assert.equal(opened.url(), `${collector}/demo/${id}#verify`);
    await opened.click('[data-credstats="verify"]');
    rows = (await waitStored(id, 6)).filter((r) => r.actor === 'guest');
    assert.deepEqual(rows.map((r) => [r.type, r.arrived_from, r.shared_by]), [['verify', 'linkedin', 'recipient'], ['view', 'linkedin', 'recipient']]);
    await assertPrivate(viewer, opened);
    await viewer.context.close();
  });

  test('an arrival without a tag is attributed from its referrer', async () => {
    const id = freshCredential('referrer');
    const session = await newSession(browser);
    const page = await session.context.newPage();
    await page.goto(`${collector}/demo/${id}`, { referer: 'https://lnkd.in/dXyZ' });
    const [view] = await session.waitSent(1);
    assert.equal(view.tag, undefined);
    assert.match(view.referrer, /^https:\/\/lnkd\.in\//);
    const rows = await waitStored(id, 1);
    assert.deepEqual(rows.map((r) => [r.type, r.arrived_from, r.shared_by]), [['view', 'linkedin', '']]);
    await session.context.close();
  });

  test('a link-preview crawler fetching the social card records an unfurl and no view', async () => {
    const id = freshCredential('unfurl');
    const session = await newSession(browser, { userAgent: 'LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)' });
    const page = await session.context.newPage();
    const answer = await page.goto(`${collector}/og/${id}.png`);
    assert.equal(answer.status(), 200);
    assert.equal(answer.headers()['content-type'], 'image/png');
    let unfurls = [];
    for (let i = 0; i < 50 && unfurls.length === 0; i++) {
      unfurls = await query(`SELECT toString(network) AS network, crawler FROM unfurls WHERE credential = '${id}'`);
      if (unfurls.length === 0) await sleep(200);
    }
    assert.deepEqual(unfurls, [{ network: 'linkedin', crawler: 'LinkedInBot' }]);
    assert.deepEqual(await stored(id), [], 'no event');
    await session.context.close();
  });

  test('without sendBeacon, fetch with keepalive delivers', async () => {
    const id = freshCredential('fetch');
    const session = await newSession(browser);
    await session.context.addInitScript(() => {
      delete Navigator.prototype.sendBeacon;
    });
    const page = await session.open(`/demo/${id}`);
    assert.equal(await page.evaluate(() => 'sendBeacon' in navigator), false);
    await page.click('[data-credstats="download"]');

    const sent = await session.waitSent(2);
    assert.deepEqual(sent.map((e) => [e.via, e.transport]), [['fetch', 'post'], ['fetch', 'post']]);
    const rows = await waitStored(id, 2);
    assert.deepEqual(rows.map((r) => [r.type, r.source, r.actor]), [['download', 'beacon', 'guest'], ['view', 'beacon', 'guest']]);
    await assertPrivate(session, page);
    await session.context.close();
  });

  test('without sendBeacon and fetch, the pixel delivers', async () => {
    const id = freshCredential('pixel');
    const session = await newSession(browser);
    await session.context.addInitScript(() => {
      delete Navigator.prototype.sendBeacon;
      delete window.fetch;
    });
    const page = await session.open(`/demo/${id}?recipient=true`);
    assert.equal(await page.evaluate(() => typeof window.fetch), 'undefined');
    await page.click('[data-credstats="share"][data-network="email"]');

    const sent = await session.waitSent(2);
    assert.deepEqual(sent.map((e) => e.transport), ['pixel', 'pixel']);
    const rows = await waitStored(id, 2);
    assert.deepEqual(
      rows.map((r) => [key(r), r.source, r.actor, r.url_path]),
      [['share/email', 'pixel', 'recipient', `/demo/${id}`], ['view', 'pixel', 'recipient', `/demo/${id}`]],
    );
    await assertPrivate(session, page);
    await session.context.close();
  });

  test('the opt-out flag stops all sending', async () => {
    const id = freshCredential('optout');
    const session = await newSession(browser);
    await session.context.addInitScript(() => {
      try {
        localStorage.setItem('credstats_ignore', 'true');
      } catch {}
    });
    const page = await session.open(`/demo/${id}?recipient=true`);
    await page.click('[data-credstats="download"]');
    await page.click('[data-credstats="share"][data-network="linkedin"]');
    await page.evaluate(() => window.credstats('verify'));
    await sleep(1500);
    assert.deepEqual(session.sent(), [], 'events sent while opted out');

    // Lifting the flag proves the page was live and that nothing earlier
    // reached the store: the one event after it is all there is.
    await page.evaluate(() => localStorage.removeItem('credstats_ignore'));
    await page.click('[data-credstats="link_copy"]');
    await waitStored(id, 1);
    await sleep(2500);
    assert.deepEqual((await stored(id)).map(key), ['link_copy']);
    await assertPrivate(session, page);
    await session.context.close();
  });

  test('screenshots of the demo page, desktop and phone', async () => {
    await mkdir(artifacts, { recursive: true });
    const shots = [
      ['demo-desktop.png', { viewport: { width: 1280, height: 900 } }],
      ['demo-phone.png', { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }],
    ];
    for (const [name, options] of shots) {
      const session = await newSession(browser, options);
      const page = await session.open(`/demo/${freshCredential('shot')}`);
      await session.waitSent(1);
      const path = new URL(name, artifacts);
      await page.screenshot({ path: path.pathname, fullPage: true });
      assert.ok((await stat(path)).size > 20000, `${name} is suspiciously small`);
      await session.context.close();
    }
  });
});
