// credstats dashboard: draws the go-echarts charts a page carries and loads
// the sections the server left to load on their own. The page has no inline
// script: its content security policy runs only this file and ECharts, both
// served by credstats itself.
//
// Each chart's legend is a row of buttons and its tooltip is HTML, so both
// work from the keyboard: the chart itself takes focus, and the arrow keys,
// Home and End move its tooltip from one category to the next (Escape hides
// it). The tooltip reads the chart's table, so it says what the table says.
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
  var still = window.matchMedia('(prefers-reduced-motion: reduce)');

  function draw(root) {
    if (!window.echarts) return;
    root.querySelectorAll('[data-option]').forEach(function (el) {
      if (el.hasAttribute('data-drawn')) return;
      var c = {
        el: el,
        box: el.closest('[data-chart-box]') || el.parentNode,
        option: revive(JSON.parse(el.getAttribute('data-option'))),
        axis: el.getAttribute('data-axis') || 'x',
        index: -1
      };
      c.tip = c.box.querySelector('.tip');
      c.guide = c.box.querySelector('.guide');
      c.live = c.box.querySelector('[data-live]');
      c.data = c.option.series.map(function (s) { return s.data; });
      el.setAttribute('data-drawn', 'started');
      c.chart = echarts.init(el, null, { renderer: 'canvas' });
      c.chart.on('finished', function () { el.setAttribute('data-drawn', 'done'); });
      c.option.series.forEach(function (s, i) { s.data = shown(c, s.name) ? c.data[i] : []; });
      if (still.matches) c.option.animation = false;
      c.chart.setOption(c.option);
      listen(c);
      charts.push(c);
    });
  }

  // shown tells whether the legend shows the series of that name; a series
  // without a button (the funnel's) is always shown.
  function shown(c, name) {
    var b = button(c, name);
    return !b || b.getAttribute('aria-pressed') !== 'false';
  }

  function button(c, name) {
    var bs = c.box.querySelectorAll('button[data-name]');
    for (var i = 0; i < bs.length; i++) if (bs[i].getAttribute('data-name') === name) return bs[i];
    return null;
  }

  function toggle(c, b) {
    b.setAttribute('aria-pressed', b.getAttribute('aria-pressed') === 'false' ? 'true' : 'false');
    c.el.setAttribute('data-drawn', 'started');
    c.chart.setOption({
      series: c.option.series.map(function (s, i) { return { data: shown(c, s.name) ? c.data[i] : [] }; })
    });
    if (c.index >= 0) show(c, c.index, false);
  }

  // table reads the chart's table: its heads and its rows of cells.
  function table(c) {
    var t = c.box.parentNode.querySelector('table.chart-data');
    if (!t) return null;
    var text = function (el) { return el.textContent.trim(); };
    return {
      head: Array.prototype.map.call(t.querySelectorAll('thead th'), text),
      rows: Array.prototype.map.call(t.querySelectorAll('tbody tr'), function (tr) {
        return Array.prototype.map.call(tr.cells, text);
      })
    };
  }

  function grids(c) {
    return Array.isArray(c.option.grid) ? c.option.grid.length : 1;
  }

  // at returns the category under a point of the chart, or -1.
  function at(c, point, n) {
    for (var g = 0; g < grids(c); g++) {
      if (!c.chart.containPixel({ gridIndex: g }, point)) continue;
      var v = c.chart.convertFromPixel({ gridIndex: g }, point);
      var i = Math.round(c.axis === 'x' ? v[0] : v[1]);
      return Math.max(0, Math.min(n - 1, i));
    }
    return -1;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  // show puts the tooltip on category i: the row of the table, less the
  // series the legend hides; speak also reads it to screen readers.
  function show(c, i, speak) {
    var t = table(c);
    if (!t || !t.rows[i]) return;
    c.index = i;
    var row = t.rows[i];
    var said = [row[0]];
    c.tip.textContent = '';
    c.tip.appendChild(el('strong', null, row[0]));
    for (var j = 1; j < row.length; j++) {
      if (!shown(c, t.head[j])) continue;
      var name = el('span', null, t.head[j]);
      var b = button(c, t.head[j]);
      if (b) name.insertBefore(b.querySelector('.swatch').cloneNode(), name.firstChild);
      c.tip.appendChild(name);
      c.tip.appendChild(el('b', null, row[j]));
      said.push(t.head[j] + ' ' + row[j]);
    }
    c.tip.hidden = false;
    if (speak) c.live.textContent = said.join(', ');

    // Beside the category, inside the chart.
    var p = c.chart.convertToPixel({ gridIndex: 0 }, c.axis === 'x' ? [i, 0] : [0, i]);
    var w = c.el.clientWidth, h = c.el.clientHeight, top = c.el.offsetTop, left = c.el.offsetLeft;
    var tw = c.tip.offsetWidth, th = c.tip.offsetHeight;
    var x, y;
    if (c.axis === 'x') {
      x = p[0] + 14 + tw <= w ? p[0] + 14 : Math.max(0, p[0] - 14 - tw);
      y = 8;
      c.guide.className = 'guide x';
      c.guide.style.cssText = 'left:' + (left + p[0]) + 'px;top:' + (top + 8) + 'px;height:' + (h - 36) + 'px';
    } else {
      var band = h / Math.max(1, t.rows.length + 1);
      x = Math.max(0, w - tw - 8);
      y = Math.min(Math.max(0, p[1] + band / 2), h - th);
      c.guide.className = 'guide';
      c.guide.style.cssText = 'left:' + left + 'px;width:' + w + 'px;top:' + (top + p[1] - band / 2) + 'px;height:' + band + 'px';
    }
    c.guide.hidden = false;
    c.tip.style.left = (left + x) + 'px';
    c.tip.style.top = (top + y) + 'px';
  }

  function hide(c) {
    c.index = -1;
    c.tip.hidden = true;
    c.guide.hidden = true;
  }

  function listen(c) {
    c.box.querySelectorAll('button[data-name]').forEach(function (b) {
      b.addEventListener('click', function () { toggle(c, b); });
    });
    c.el.addEventListener('mousemove', function (e) {
      var r = c.el.getBoundingClientRect();
      var t = table(c);
      var i = t ? at(c, [e.clientX - r.left, e.clientY - r.top], t.rows.length) : -1;
      if (i < 0) hide(c);
      else if (i !== c.index) show(c, i, false);
    });
    c.el.addEventListener('mouseleave', function () {
      if (document.activeElement !== c.el) hide(c);
    });
    c.el.addEventListener('blur', function () { hide(c); });
    c.el.addEventListener('keydown', function (e) {
      var t = table(c);
      if (!t) return;
      var n = t.rows.length, i = c.index;
      switch (e.key) {
        case 'ArrowRight': case 'ArrowDown': i = i < 0 ? 0 : Math.min(n - 1, i + 1); break;
        case 'ArrowLeft': case 'ArrowUp': i = i < 0 ? n - 1 : Math.max(0, i - 1); break;
        case 'Home': i = 0; break;
        case 'End': i = n - 1; break;
        case 'Escape': hide(c); return;
        default: return;
      }
      e.preventDefault();
      show(c, i, true);
    });
  }

  var resizing;
  window.addEventListener('resize', function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      charts.forEach(function (c) {
        c.chart.resize();
        hide(c);
      });
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

  // A custom range closes when the person clicks elsewhere, or presses
  // Escape in it.
  function closeCustom(except) {
    document.querySelectorAll('details.custom[open]').forEach(function (d) {
      if (d !== except && !d.querySelector('summary.on')) d.removeAttribute('open');
    });
  }
  document.addEventListener('click', function (e) {
    closeCustom(e.target.closest('details.custom'));
  });
  document.addEventListener('keydown', function (e) {
    var d = e.key === 'Escape' && e.target.closest && e.target.closest('details.custom[open]');
    if (d) {
      d.removeAttribute('open');
      d.querySelector('summary').focus();
    }
  });

  function start() {
    draw(document);
    document.querySelectorAll('[data-section][data-deferred]').forEach(load);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
