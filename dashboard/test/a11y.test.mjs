// Accessibility and weight of the dashboard in real headless Chromium:
// axe-core's WCAG 2.1 A and AA rules on every kind of page, the keyboard
// alone on the overview, long ids on phones and desktops, and what the
// first load costs over the wire.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  artifacts, base, createKey, launch, links, newSession, poll, prefix, query, ready, seed, seedCredentials,
  signIn, skipReason,
} from './harness.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const wcag = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const seeded = 4000;
const group = `${prefix}-g1`;
// Ids as long as real ones: 26 characters, and one of 40.
const longGroup = `${prefix}-long-ids`;
const longIds = [
  `${prefix}-cloud-data-eng-0001`, `${prefix}-cloud-data-eng-0002`, `${prefix}-security-ops-2026`,
  `${prefix}-data-engineering-professional-2026`,
];
const desktop = { width: 1280, height: 800 };
const phone = { width: 390, height: 844 };
const budget = 150_000; // bytes over the wire, cold cache

describe('dashboard accessibility and weight', { skip: skipReason }, () => {
  let browser, dashKey, groupLink;

  before(async () => {
    browser = await launch();
    let statsKey;
    [dashKey, statsKey] = await Promise.all([createKey('dashboard'), createKey('stats:read')]);
    await Promise.all([seed(seeded), seedCredentials(600, longIds, longGroup)]);
    groupLink = await links.create('--group', group);
    await poll(async () => {
      const r = await query(statsKey, { metrics: ['events'], date_range: 'all', filters: [['contains', 'credential', [prefix]]] });
      return r.results[0]?.metrics[0] ?? 0;
    }, (n) => n === seeded - seeded / 50 + 600, 30000, 'the seeded events in the rollups');
  });
  after(() => browser?.close());

  // axe runs axe-core's WCAG 2.1 A and AA rules on the page as it is, with
  // every chart's table open so that it is checked too.
  async function axe(page) {
    await page.$$eval('details.data', (ds) => ds.forEach((d) => { d.open = true; }));
    await page.addScriptTag({ path: axePath });
    return page.evaluate(async (tags) => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.split('\n').slice(1, 2).join('').trim()}`) }));
    }, wcag);
  }

  // Only the first tests open the unfiltered overview: the server shares a
  // section's result between equal addresses for a few seconds, and the
  // tests that run after this file check that page against new events.
  test('the first load of the overview is at most 150 KB over the wire with a cold cache, all from this host', async () => {
    const signedIn = await newSession(browser);
    await signIn(signedIn.context, dashKey);
    const storageState = await signedIn.context.storageState();
    await signedIn.context.close();

    const { context, requests } = await newSession(browser, { viewport: desktop, storageState });
    const page = await context.newPage();
    const sizes = [];
    page.on('requestfinished', (r) => sizes.push(r.sizes().then((s) => ({ url: r.url(), body: s.responseBodySize, headers: s.responseHeadersSize }))));
    const res = await page.goto(`${base}/dashboard`);
    await ready(page);
    await page.waitForLoadState('networkidle');
    const got = await Promise.all(sizes);
    const body = got.reduce((n, s) => n + s.body, 0);
    const headers = got.reduce((n, s) => n + s.headers, 0);
    console.log(`first load of /dashboard, cold cache: ${got.length} responses, ${body} bytes of bodies as sent (+${headers} of headers)\n  ${got.map((s) => `${s.body} ${s.url.replace(base, '')}`).join('\n  ')}`);
    assert.match((await res.allHeaders())['content-encoding'] ?? '', /^(gzip|br)$/, 'the page is compressed');
    assert.ok(body + headers <= budget, `the first load sends ${body + headers} bytes, more than ${budget}`);
    assert.deepEqual(requests.filter((u) => !u.startsWith(base + '/')), [], 'requests to another host');
    await context.close();
  });

  test('axe-core finds no serious or critical WCAG 2.1 A/AA violation on any page, desktop and phone', async () => {
    const counts = {};
    const failures = [];
    for (const [size, viewport] of [['1280', desktop], ['390', phone]]) {
      const { context } = await newSession(browser, { viewport, bypassCSP: true });
      const page = await context.newPage();
      const pages = [
        ['demo page', async () => { await page.goto(`${base}/demo/${prefix}-demo`); }],
        ['sign-in', async () => { await page.goto(`${base}/dashboard/login`); }],
        ['sign-in, wrong key', async () => {
          await page.fill('#key', 'csk_0123456789abcdef_' + '0'.repeat(48));
          await Promise.all([page.waitForSelector('.note.err'), page.click('button[type=submit]')]);
        }],
        ['overview', async () => {
          await signIn(context, dashKey).then((p) => p.close());
          await page.goto(`${base}/dashboard`);
          await ready(page);
        }],
        ['overview of a group', async () => { await page.goto(`${base}/dashboard?group=${longGroup}&range=7d`); await ready(page); }],
        ['credential page', async () => { await page.goto(`${base}/dashboard/credentials/${longIds[3]}`); await ready(page); }],
        ['shared link', async () => { await page.goto(groupLink); await ready(page); }],
      ];
      for (const [name, open] of pages) {
        await open();
        for (const v of await axe(page)) {
          counts[`${v.id} (${v.impact})`] = (counts[`${v.id} (${v.impact})`] ?? 0) + 1;
          if (v.impact === 'serious' || v.impact === 'critical') failures.push(`${name} at ${size} px: ${v.id} (${v.impact})\n    ${v.nodes.slice(0, 4).join('\n    ')}`);
        }
      }
      await context.close();
    }
    console.log(`axe-core WCAG 2.1 A/AA violations, pages × widths each rule is found on: ${JSON.stringify(counts)}`);
    assert.deepEqual(failures, [], 'serious or critical violations');
  });

  test('the custom range applies as served on every page', async () => {
    const { context } = await newSession(browser);
    const page = await signIn(context, dashKey);
    for (const path of ['/dashboard', `/dashboard/credentials/${longIds[0]}?range=month`, '/dashboard?range=12mo', '/dashboard?range=custom&from=2020-01-01&to=2999-12-31', groupLink]) {
      await page.goto(path.startsWith('http') ? path : base + path);
      const form = await page.$eval('details.custom form', (f) => {
        const from = f.querySelector('[name=from]'), to = f.querySelector('[name=to]');
        return { valid: f.checkValidity(), from: from.value, to: to.value, max: to.max, fromMax: from.max };
      });
      assert.ok(form.valid, `${path}: the custom range form is invalid as served: ${JSON.stringify(form)}`);
      assert.ok(form.to <= form.max && form.from <= form.to, `${path}: ${JSON.stringify(form)}`);
      if (!path.includes('range=custom')) assert.equal(form.to, form.max, `${path}: "To" is not today`);
    }
    await context.close();
  });

  // focusState describes the focused element: where it is against the
  // sticky top bar, and how its focus ring stands out from what is behind.
  function focusState(page) {
    return page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const lum = (c) => {
        const m = c.match(/[\d.]+/g).map(Number);
        const [r, g, b] = m.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const opaque = (c) => { const m = c.match(/[\d.]+/g); return m && (m.length < 4 || Number(m[3]) > 0.5); };
      const cs = getComputedStyle(el);
      let behind = Number.parseFloat(cs.outlineOffset) > 0 ? el.parentElement : el;
      while (behind && !opaque(getComputedStyle(behind).backgroundColor)) behind = behind.parentElement;
      const bg = behind ? getComputedStyle(behind).backgroundColor : 'rgb(255, 255, 255)';
      const [l1, l2] = [lum(cs.outlineColor), lum(bg)].sort((a, b) => b - a);
      const r = el.getBoundingClientRect();
      const bar = document.querySelector('.topbar').getBoundingClientRect();
      const name = `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${(el.getAttribute('aria-label') || el.textContent).trim().replace(/\s+/g, ' ').slice(0, 40)}"`;
      return {
        kb: el.dataset.kb, name,
        covered: !el.closest('.topbar') && (r.top < bar.bottom - 0.5 || r.bottom > innerHeight + 0.5),
        box: [Math.round(r.top), Math.round(r.bottom)], bar: Math.round(bar.bottom),
        ring: cs.outlineStyle !== 'none' && Number.parseFloat(cs.outlineWidth) >= 2,
        contrast: Math.round((l1 + 0.05) / (l2 + 0.05) * 100) / 100,
      };
    });
  }

  // controls marks every control a keyboard user should reach and returns
  // their names by mark.
  function controls(page) {
    return page.evaluate(() => {
      const out = {};
      const all = document.querySelectorAll('a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), summary, select, textarea, [tabindex]:not([tabindex="-1"])');
      let i = 0;
      for (const el of all) {
        const closed = el.closest('details:not([open])');
        if (closed && el !== closed.querySelector(':scope > summary')) continue;
        if (!el.checkVisibility({ visibilityProperty: true })) continue;
        el.dataset.kb = String(i);
        out[i++] = `${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') || el.textContent || el.name || '').trim().replace(/\s+/g, ' ').slice(0, 40)}"`;
      }
      return out;
    });
  }

  // fromTop moves the keyboard's starting point to the top of the page, as
  // a page just opened has it.
  const fromTop = (page) => page.evaluate(() => {
    document.body.tabIndex = -1;
    document.body.focus();
    document.body.removeAttribute('tabindex');
    window.scrollTo(0, 0);
  });

  // walk tabs through the whole page, forwards from its top or backwards
  // from its last control, checks each focused control and returns the
  // marks reached, in order.
  async function walk(page, key, problems, where) {
    const reached = [];
    if (key === 'Tab') {
      await fromTop(page);
    } else {
      reached.push(await page.evaluate(() => {
        const last = [...document.querySelectorAll('[data-kb]')].at(-1);
        last.focus();
        return last.dataset.kb;
      }));
    }
    for (let i = 0; i < 400; i++) {
      await page.keyboard.press(key);
      const s = await focusState(page);
      if (!s || s.kb === reached[0]) break;
      reached.push(s.kb);
      if (s.covered) problems.push(`${where}, ${key}: ${s.name} is covered: box ${s.box} under a bar ending at ${s.bar}`);
      if (!s.ring) problems.push(`${where}, ${key}: ${s.name} has no focus ring of 2 px or more`);
      else if (s.contrast < 3) problems.push(`${where}, ${key}: ${s.name}'s focus ring is ${s.contrast}:1 against its background`);
    }
    return reached;
  }

  // tabTo presses Tab until the focused element matches the selector.
  async function tabTo(page, selector, key = 'Tab') {
    for (let i = 0; i < 300; i++) {
      if (await page.evaluate((sel) => document.activeElement?.matches(sel), selector)) return;
      await page.keyboard.press(key);
    }
    throw new Error(`Tab never reached ${selector}`);
  }

  const canvasOf = (page, chart) => page.$eval(`[data-chart="${chart}"] canvas`, (c) => c.toDataURL());
  const drawn = (page) => page.waitForFunction(() => [...document.querySelectorAll('[data-option]')].every((c) => c.getAttribute('data-drawn') === 'done'));

  test('the keyboard reaches every control of the overview, never under the top bar, and operates each', async () => {
    const problems = [];
    for (const [size, viewport] of [['1280', desktop], ['390', phone]]) {
      const { context, errors } = await newSession(browser, { viewport });
      const page = await signIn(context, dashKey, `/dashboard?group=${group}`);
      await ready(page);
      const all = await controls(page);
      const forward = await walk(page, 'Tab', problems, size);
      const backward = await walk(page, 'Shift+Tab', problems, size);
      const missed = Object.keys(all).filter((k) => !forward.includes(k)).map((k) => all[k]);
      assert.deepEqual(missed, [], `${size} px: controls Tab never reaches`);
      assert.deepEqual([...backward].reverse(), forward, `${size} px: Shift+Tab goes another way than Tab`);
      console.log(`${size} px: Tab reaches all ${forward.length} controls of the overview`);
      assert.deepEqual(errors, []);
      await context.close();
    }
    assert.deepEqual(problems, [], 'focus problems');

    const { context, errors } = await newSession(browser, { viewport: desktop, acceptDownloads: true });
    const page = await signIn(context, dashKey, `/dashboard?group=${group}`);
    await ready(page);
    await fromTop(page);

    // Every series of every chart turns off and on from the keyboard.
    const toggles = await page.$$eval('[data-chart-box] button[aria-pressed]', (bs) => bs.map((b) => [b.closest('[data-section]').id, b.textContent.trim(), b.getAttribute('aria-pressed')]));
    assert.ok(toggles.length >= 10, `series toggles: ${JSON.stringify(toggles)}`);
    assert.deepEqual(toggles.filter(([s]) => s === 'trend').map(([, n, p]) => [n, p]), [
      ['Views', 'true'], ['Unique viewers', 'true'], ['Shares', 'true'], ['LinkedIn adds', 'true'], ['Downloads', 'false'], ['Verifications', 'false'],
    ]);
    for (const [section, name, pressed] of toggles) {
      await tabTo(page, `#${section} button[aria-pressed][data-name="${name}"]`);
      const before = await canvasOf(page, section);
      await page.keyboard.press(pressed === 'true' ? 'Space' : 'Enter');
      await drawn(page);
      const now = await page.$eval(`#${section} button[data-name="${name}"]`, (b) => b.getAttribute('aria-pressed'));
      assert.equal(now, pressed === 'true' ? 'false' : 'true', `${section}: ${name} did not toggle`);
      assert.notEqual(await canvasOf(page, section), before, `${section}: ${name} toggled but the chart did not change`);
    }

    // The trend's tooltip follows the arrow keys.
    await tabTo(page, '[data-chart="trend"]');
    await page.keyboard.press('ArrowRight');
    const rows = await page.$$eval('#trend table.chart-data tbody th', (ths) => ths.map((th) => th.textContent));
    let tip = await page.$eval('#trend .tip', (t) => ({ shown: t.checkVisibility(), text: t.textContent }));
    assert.ok(tip.shown && tip.text.includes(rows[0]) && /Downloads/.test(tip.text), `the tooltip after ArrowRight: ${JSON.stringify(tip)}`);
    await page.keyboard.press('End');
    tip = await page.$eval('#trend .tip', (t) => ({ shown: t.checkVisibility(), text: t.textContent }));
    assert.ok(tip.text.includes(rows.at(-1)), `the tooltip after End: ${tip.text}`);
    await page.keyboard.press('Escape');
    assert.equal(await page.$eval('#trend .tip', (t) => t.checkVisibility()), false, 'Escape hides the tooltip');

    // A section's CSV downloads, and its chart's table opens.
    await tabTo(page, '#networks a.csv');
    const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
    assert.match(download.suggestedFilename(), /\.csv$/);
    await tabTo(page, '#networks details.data > summary');
    await page.keyboard.press('Enter');
    assert.ok(await page.$eval('#networks table.chart-data', (t) => t.checkVisibility()), 'the networks table opens');

    // The custom range opens, is valid as served, and applies.
    await fromTop(page);
    await tabTo(page, 'details.custom > summary');
    await page.keyboard.press('Enter');
    await tabTo(page, 'details.custom button[type=submit]');
    const today = await page.$eval('input[name=to]', (i) => i.max);
    await Promise.all([page.waitForURL(/range=custom/), page.keyboard.press('Enter')]);
    assert.equal(new URL(page.url()).searchParams.get('to'), today);
    await ready(page);

    // A preset, the filter, a chip, a credential and back.
    await fromTop(page);
    await tabTo(page, '.presets a[href*="range=7d"]');
    await Promise.all([page.waitForURL(/range=7d/), page.keyboard.press('Enter')]);
    await ready(page);
    await fromTop(page);
    await tabTo(page, 'input[name=search]');
    await page.keyboard.type(`${prefix}-c4`);
    await Promise.all([page.waitForURL(/search=/), page.keyboard.press('Enter')]);
    await ready(page);
    await fromTop(page);
    // The search's chip removes the search and keeps the group.
    await tabTo(page, '.chip[href*="group="]');
    await Promise.all([page.waitForURL((u) => !u.searchParams.has('search')), page.keyboard.press('Enter')]);
    await ready(page);
    await fromTop(page);
    await tabTo(page, '#credentials tbody a');
    await Promise.all([page.waitForURL(/\/dashboard\/credentials\//), page.keyboard.press('Enter')]);
    await ready(page);
    await fromTop(page);
    await tabTo(page, 'a.back');
    await Promise.all([page.waitForURL((u) => u.pathname === '/dashboard'), page.keyboard.press('Enter')]);
    await ready(page);

    // Sign out.
    await fromTop(page);
    await tabTo(page, 'form[action="/dashboard/logout"] button');
    await Promise.all([page.waitForURL(/signed_out/), page.keyboard.press('Enter')]);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('long ids: nothing is cut off or dropped at phone or desktop widths', async () => {
    for (const [size, viewport] of [['1440', { width: 1440, height: 900 }], ['1280', desktop], ['820', { width: 820, height: 1180 }], ['390', phone]]) {
      const { context } = await newSession(browser, { viewport });
      await (await signIn(context, dashKey)).close();
      for (const path of [`/dashboard?group=${longGroup}`, `/dashboard/credentials/${longIds[3]}`]) {
        const page = await context.newPage();
        await page.goto(base + path);
        await ready(page);
        await page.screenshot({ path: join(artifacts, `long-ids-${path.includes('group=') ? 'overview' : 'credential'}-${size}.png`), fullPage: true });
        await page.$$eval('details.data', (ds) => ds.forEach((d) => { d.open = true; }));
        const found = await page.evaluate(() => {
          const cut = [];
          for (const el of document.querySelectorAll('main *')) {
            // A text field scrolls its text by nature; the chips show filters whole.
            if (el.closest('.chart') || el.clientWidth <= 1 || el.tagName === 'INPUT') continue;
            const cs = getComputedStyle(el);
            if (cs.display === 'none' && el.closest('table')) cut.push(`hidden table cell: ${el.textContent.trim()}`);
            const clips = /hidden|clip|auto|scroll/.test(cs.overflowX) || cs.textOverflow === 'ellipsis';
            if (clips && el.scrollWidth > el.clientWidth + 1) cut.push(`${el.tagName.toLowerCase()}.${el.className}: "${el.textContent.trim().slice(0, 50)}" needs ${el.scrollWidth} px, has ${el.clientWidth}`);
          }
          if (document.documentElement.scrollWidth > innerWidth) cut.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${innerWidth} px window`);
          return { cut, ids: [...document.querySelectorAll('#credentials tbody a')].map((a) => a.textContent) };
        });
        assert.deepEqual(found.cut, [], `${size} px ${path}`);
        if (path.includes('group=')) {
          assert.deepEqual([...found.ids].sort(), [...longIds].sort(), `${size} px: the top credentials`);
          await page.screenshot({ path: join(artifacts, `long-ids-tables-${size}.png`), fullPage: true });
        }
        await page.close();
      }
      await context.close();
    }
  });

  test('charts say what they show and carry their numbers as tables; counts are drawn honestly', async () => {
    const { context } = await newSession(browser, { viewport: desktop });
    const page = await signIn(context, dashKey, `/dashboard?group=${longGroup}&range=7d`);
    await ready(page);
    const charts = await page.$$eval('[data-chart]', (els) => els.map((el) => ({
      kind: el.getAttribute('data-chart'),
      role: el.getAttribute('role'),
      label: el.getAttribute('aria-label'),
      rows: el.closest('[data-section]').querySelectorAll('table.chart-data tbody tr').length,
      option: JSON.parse(el.getAttribute('data-option')),
    })));
    assert.deepEqual(charts.map((c) => c.kind), ['trend', 'networks', 'actors', 'funnel']);
    for (const c of charts) {
      assert.equal(c.role, 'img', c.kind);
      assert.match(c.label, /\d/, `${c.kind}'s label has no number: ${c.label}`);
      assert.ok(c.rows > 0, `${c.kind} has no table`);
      for (const s of c.option.series) {
        assert.notEqual(s.smooth, true, `${c.kind}: ${s.name} is smoothed`);
        assert.notEqual(s.type, 'funnel', `${c.kind}: ECharts' funnel widens small stages`);
      }
    }
    const trend = charts.find((c) => c.kind === 'trend');
    assert.equal(trend.rows, trend.option.xAxis[0].data.length, 'a row per point of the trend');
    await context.close();
  });
});
