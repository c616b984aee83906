// credstats dashboard: draws the go-echarts charts a page carries and loads
// the sections the server left to load on their own. The page has no inline
// script: its content security policy runs only this file and ECharts, both
// served by credstats itself.
(function () {
  'use strict';

  // go-echarts options are JSON; where a chart needs a function it names
  // one as "fmt:NAME".
  var formatters = {
    percent: function (v) { return (Math.round(v * 10) / 10) + '%'; },
    count: function (v) { return Number(v).toLocaleString('en-US'); }
  };

  function revive(o) {
    if (Array.isArray(o)) {
      for (var i = 0; i < o.length; i++) o[i] = revive(o[i]);
    } else if (o && typeof o === 'object') {
      for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) o[k] = revive(o[k]);
    } else if (typeof o === 'string' && o.indexOf('fmt:') === 0 && formatters[o.slice(4)]) {
      return formatters[o.slice(4)];
    }
    return o;
  }

  var charts = [];

  function draw(root) {
    if (!window.echarts) return;
    root.querySelectorAll('[data-option]').forEach(function (el) {
      if (el.hasAttribute('data-drawn')) return;
      el.setAttribute('data-drawn', 'started');
      var chart = echarts.init(el, null, { renderer: 'canvas' });
      chart.on('finished', function () { el.setAttribute('data-drawn', 'done'); });
      chart.setOption(revive(JSON.parse(el.getAttribute('data-option'))));
      charts.push(chart);
    });
  }

  var resizing;
  window.addEventListener('resize', function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      charts.forEach(function (c) { c.resize(); });
    }, 100);
  });

  var failedHTML = '<div class="failed" role="alert"><p>The server could not be reached.</p>' +
    '<button class="btn" type="button" data-retry>Try again</button></div>';

  // load fetches one section's body; each section loads on its own, so a
  // slow one never holds up the rest.
  function load(section) {
    var body = section.querySelector('.body');
    section.setAttribute('data-state', 'loading');
    body.innerHTML = '<div class="loading"><span class="spinner" aria-hidden="true"></span>Loading…</div>';
    fetch(section.getAttribute('data-src'), { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) {
        if (r.status === 401) {
          location.reload();
          return;
        }
        return r.text().then(function (html) {
          body.innerHTML = html;
          section.setAttribute('data-state', r.ok ? 'loaded' : 'failed');
          draw(body);
        });
      })
      .catch(function () {
        body.innerHTML = failedHTML;
        section.setAttribute('data-state', 'failed');
      });
  }

  document.addEventListener('click', function (e) {
    var retry = e.target.closest('[data-retry]');
    if (retry) load(retry.closest('[data-section]'));
  });

  // A custom range closes when the person clicks elsewhere.
  document.addEventListener('click', function (e) {
    document.querySelectorAll('details.custom[open]').forEach(function (d) {
      if (!d.contains(e.target) && !d.querySelector('summary.on')) d.removeAttribute('open');
    });
  });

  function start() {
    draw(document);
    document.querySelectorAll('[data-section][data-deferred]').forEach(load);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
