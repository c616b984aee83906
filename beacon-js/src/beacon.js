// credstats beacon: counts what people do on a public credential page.
// Embed: <script defer src="https://STATS/beacon.js" data-credential="ID" data-group="G"></script>
(() => {
  const w = window, d = document, n = navigator, loc = location;
  const script = d.currentScript || d.querySelector('script[data-credential]');
  if (!script) return;

  const origin = new URL(script.src, loc.href).origin;
  const credential = script.getAttribute('data-credential');
  const group = script.getAttribute('data-group');
  const recipientKey = 'credstats_recipient:' + credential;

  // Storage and history throw in some privacy modes and sandboxed frames;
  // counting must go on without them.
  const attempt = (f) => {
    try {
      return f();
    } catch (e) {}
  };
  const stored = (key) => attempt(() => localStorage.getItem(key));

  // The issuer mails the recipient a link with ?recipient=true. Remember this
  // browser as the recipient of this credential and take the marker out of
  // the address bar, so a link copied from it later is a guest's link. A
  // shared link's tag (?cs=NETWORK.r|g, see share below) leaves it too,
  // once the events of this page load carry it as `via`.
  let marked, via;
  const params = loc.search.slice(1).split('&');
  const rest = params.filter((p) => p == 'recipient=true' ? !(marked = 1) : p.slice(0, 3) != 'cs=' || !(via = p.slice(3)));
  if (marked) attempt(() => localStorage.setItem(recipientKey, 'true'));
  if (rest.length < params.length) {
    const query = rest.join('&');
    attempt(() => history.replaceState(history.state, '', loc.pathname + (query ? '?' + query : '') + loc.hash));
  }
  const actor = marked || stored(recipientKey) == 'true' ? 'recipient' : 'guest';
  const page = () => loc.href.split('#')[0];

  // Sends an event; a share answers the page's link tagged with its
  // network and sharer, for the page to share instead of its plain link.
  const send = (type, network) => {
    if (!credential || stored('credstats_ignore') == 'true') return;
    const ev = {
      credential, type, network: type == 'share' && network, actor, group,
      url: loc.href.split(/[?#]/)[0], referrer: d.referrer, via,
    };
    for (const k in ev) if (!ev[k]) delete ev[k];
    const url = origin + '/api/event', body = JSON.stringify(ev);
    const image = () => {
      new Image().src = url + '.gif?' + new URLSearchParams(ev);
    };

    // no-cors: the collector need not answer with CORS headers, and an opaque
    // answer must not look like a failure that triggers the pixel as well.
    if (!(n.sendBeacon && n.sendBeacon(url, body))) {
      if (w.fetch) {
        fetch(url, {
          method: 'POST',
          body,
          keepalive: true,
          mode: 'no-cors',
          credentials: 'omit',
          headers: { 'Content-Type': 'text/plain' },
        }).catch(image);
      } else {
        image();
      }
    }
    if (ev.network) return page() + (loc.search ? '&' : '?') + 'cs=' + network + (actor == 'recipient' ? '.r' : '.g');
  };

  // Capture phase, so a page handler that stops propagation still counts.
  d.addEventListener('click', (e) => {
    const el = e.target.closest && e.target.closest('[data-credstats]');
    const link = el && send(el.getAttribute('data-credstats'), el.getAttribute('data-network'));
    // A share link (https://www.linkedin.com/sharing/share-offsite/?url=...)
    // that carries the page's address, encoded, carries the tagged one; a
    // page's own click handler finds it in data-link.
    if (link) {
      el.setAttribute('data-link', link);
      if (el.href) el.href = (el.h = el.h || el.href).split(encodeURIComponent(page())).join(encodeURIComponent(link));
    }
  }, true);

  const api = (type, opts) => send(type, opts && opts.network);
  const queued = (w.credstats && w.credstats.q) || [];
  w.credstats = api;

  const view = () => send('view');
  // A prerendered page may never be shown: count it when it is.
  if (d.prerendering) d.addEventListener('prerenderingchange', view, { once: true });
  else view();
  for (const args of queued) api.apply(null, args);
})();
