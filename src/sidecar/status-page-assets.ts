// The status page (status-page.ts serves it): one HTML page, its style and its script. The script
// is plain browser JavaScript, written here so that the build carries it into dist/ with the rest;
// everything it shows comes from /healthz, /metrics and /connections. Values from clients (PROXY
// TLVs, SNI names, certificate subjects) only ever go into textContent.

export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tcp-echo status</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/uPlot.css">
<link rel="stylesheet" href="status.css">
<script src="assets/uPlot.js" defer></script>
<script src="status.js" defer></script>
</head>
<body>
<header>
  <h1>tcp-echo</h1>
  <span id="overview">loading…</span>
  <span id="updated"></span>
</header>
<p id="error" hidden></p>
<form id="token-form" hidden>
  <label>This sidecar needs its metrics token: <input id="token-input" type="password" autocomplete="off"></label>
  <button type="submit">Use it</button>
</form>
<section>
  <h2>Listeners</h2>
  <table id="listeners" class="grid"><thead><tr>
    <th>name</th><th>scheme</th><th>address</th><th>state</th><th>active</th><th>accepted</th><th>conn/s</th><th>in/s</th><th>out/s</th><th>received</th><th>sent</th>
  </tr></thead><tbody></tbody></table>
</section>
<section class="charts">
  <figure><figcaption>bytes/s (in, out)</figcaption><div id="chart-bytes" class="chart" data-points="0"></div></figure>
  <figure><figcaption>new connections/s</figcaption><div id="chart-accepted" class="chart" data-points="0"></div></figure>
  <figure><figcaption>active connections</figcaption><div id="chart-active" class="chart" data-points="0"></div></figure>
</section>
<section>
  <h2>Closed and refused connections</h2>
  <table id="reasons" class="grid"><thead><tr><th>what</th><th>reason</th><th>listener</th><th>count</th></tr></thead><tbody></tbody></table>
</section>
<section>
  <h2>Connections <span id="connections-count"></span>
    <label class="sort">sort by <select id="sort"><option value="age">age</option><option value="bytes">bytes</option><option value="idle">idle</option></select></label>
  </h2>
  <table id="connections" class="grid"><thead><tr>
    <th>listener</th><th>client</th><th>peer</th><th>local</th><th>TLS</th><th>PROXY</th><th>in</th><th>out</th><th>age</th><th>idle</th><th>paused</th><th>waiting</th>
  </tr></thead><tbody></tbody></table>
</section>
</body>
</html>
`;

export const STATUS_CSS = `body { font: 13px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; }
header { display: flex; gap: 1.5em; align-items: baseline; border-bottom: 1px solid #ccc; }
h1 { font-size: 1.4em; margin: .5em 0; }
h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
#updated { color: #888; margin-left: auto; }
#error { background: #fdd; border: 1px solid #c66; padding: .4em .8em; }
table.grid { border-collapse: collapse; width: 100%; }
.grid th, .grid td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; white-space: nowrap; }
.grid th { background: #eef; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.down td { background: #fee; }
tr.paused td { background: #ffd; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 1em; margin-top: 1em; }
figure { margin: 0; }
figcaption { font-weight: 600; }
.chart { min-height: 200px; }
.sort { font-weight: normal; font-size: .85em; margin-left: 1em; }
`;

export const STATUS_SCRIPT = String.raw`'use strict';
(function () {
  var POINTS = 120;
  var COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  var $ = function (id) { return document.getElementById(id); };

  // The token: from ?token= (then taken out of the address bar), else from this tab's storage.
  var params = new URLSearchParams(location.search);
  var token = params.get('token') || sessionStorage.getItem('tcp-echo-token') || '';
  if (params.has('token')) {
    sessionStorage.setItem('tcp-echo-token', token);
    history.replaceState(null, '', location.pathname);
  }
  $('token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    token = $('token-input').value;
    sessionStorage.setItem('tcp-echo-token', token);
    $('token-form').hidden = true;
    tick();
  });

  function Unauthorized() {}
  function get(path) {
    return fetch(path, { cache: 'no-store', headers: token ? { authorization: 'Bearer ' + token } : {} }).then(function (response) {
      if (response.status === 401) throw new Unauthorized();
      return response;
    });
  }

  // Prometheus text format: enough of it for the echo_* series.
  function parseMetrics(text) {
    var samples = [];
    text.split('\n').forEach(function (line) {
      var m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) return;
      var labels = {};
      (m[2] || '').replace(/(\w+)="((?:[^"\\]|\\.)*)"/g, function (_, name, value) {
        labels[name] = value.replace(/\\(.)/g, function (_, c) { return c === 'n' ? '\n' : c; });
        return '';
      });
      samples.push({ name: m[1], labels: labels, value: Number(m[3]) });
    });
    return samples;
  }
  function perListener(samples, name) {
    var out = {};
    samples.forEach(function (s) {
      if (s.name === name && s.labels.listener !== undefined) out[s.labels.listener] = (out[s.labels.listener] || 0) + s.value;
    });
    return out;
  }

  function bytes(n) {
    if (n === null || n === undefined) return '';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + ' ' + units[i];
  }
  function duration(s) {
    if (s === null || s === undefined) return '?';
    if (s < 60) return s.toFixed(1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' m ' + Math.floor(s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' m';
  }
  function cell(row, text, numeric) {
    var td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '' : String(text);
    if (numeric) td.className = 'num';
    row.appendChild(td);
    return td;
  }
  function fill(tableId, items, render) {
    var body = document.createElement('tbody');
    items.forEach(function (item) {
      var row = document.createElement('tr');
      render(row, item);
      body.appendChild(row);
    });
    var table = $(tableId);
    table.replaceChild(body, table.tBodies[0]);
  }

  // Rates from the counters' change between two scrapes; histories of the last POINTS seconds.
  var previous = null;
  var listenerNames = [];
  var past = { time: [], bytes: [], accepted: [], active: [] };
  var charts = {};
  var rates = {};

  function chart(id, labels, format) {
    var element = $(id);
    if (charts[id]) charts[id].destroy();
    var series = [{}].concat(labels.map(function (label, i) {
      return { label: label, stroke: COLORS[i % COLORS.length], width: 1.5, value: function (_, v) { return format(v); } };
    }));
    charts[id] = new uPlot({
      width: Math.max(300, element.clientWidth),
      height: 200,
      series: series,
      scales: { x: { time: true } },
      axes: [{}, { size: 95, values: function (_, values) { return values.map(format); } }],
    }, [[]].concat(labels.map(function () { return []; })), element);
  }
  function setUpCharts(names) {
    listenerNames = names;
    past = { time: [], bytes: names.map(function () { return [[], []]; }), accepted: names.map(function () { return []; }), active: names.map(function () { return []; }) };
    var inOut = [];
    names.forEach(function (name) { inOut.push(name + ' in', name + ' out'); });
    var perSecond = function (v) { return v === null ? '' : bytes(v) + '/s'; };
    var plain = function (v) { return v === null ? '' : String(Math.round(v * 10) / 10); };
    chart('chart-bytes', inOut, perSecond);
    chart('chart-accepted', names, plain);
    chart('chart-active', names, plain);
  }
  function push(list, value) {
    list.push(value);
    if (list.length > POINTS) list.shift();
  }
  function draw(id, series) {
    charts[id].setData([past.time.slice()].concat(series.map(function (s) { return s.slice(); })));
    var element = $(id);
    element.dataset.points = String(past.time.length);
    var highest = 0;
    series.forEach(function (s) { s.forEach(function (v) { if (v > highest) highest = v; }); });
    element.dataset.max = String(highest);
  }

  function updateMetrics(samples) {
    var now = Date.now() / 1000;
    var current = {
      time: now,
      accepted: perListener(samples, 'echo_connections_accepted_total'),
      received: perListener(samples, 'echo_received_bytes_total'),
      sent: perListener(samples, 'echo_sent_bytes_total'),
      active: perListener(samples, 'echo_connections_active'),
    };
    var names = Object.keys(current.accepted).sort();
    if (names.join('\n') !== listenerNames.join('\n')) {
      setUpCharts(names);
      previous = null;
    }
    rates = {};
    if (previous !== null) {
      var dt = now - previous.time;
      var rate = function (key, name) { return Math.max(0, ((current[key][name] || 0) - (previous[key][name] || 0)) / dt); };
      push(past.time, now);
      names.forEach(function (name, i) {
        rates[name] = { accepted: rate('accepted', name), received: rate('received', name), sent: rate('sent', name) };
        push(past.bytes[i][0], rates[name].received);
        push(past.bytes[i][1], rates[name].sent);
        push(past.accepted[i], rates[name].accepted);
        push(past.active[i], current.active[name] || 0);
      });
      draw('chart-bytes', [].concat.apply([], past.bytes));
      draw('chart-accepted', past.accepted);
      draw('chart-active', past.active);
    }
    previous = current;

    var reasons = [];
    [['closed', 'echo_connections_closed_total'], ['refused', 'echo_connections_rejected_total']].forEach(function (kind) {
      samples.forEach(function (s) {
        if (s.name === kind[1] && s.value > 0) reasons.push({ what: kind[0], reason: s.labels.reason, listener: s.labels.listener, count: s.value });
      });
    });
    fill('reasons', reasons, function (row, r) {
      cell(row, r.what); cell(row, r.reason); cell(row, r.listener); cell(row, r.count, true);
    });
    return current;
  }

  function updateListeners(health, current) {
    var c = health.connections || {};
    $('overview').textContent = health.status + (health.ready ? '' : ' (not ready)') + ' · version ' + health.version + ' · up ' + duration(health.uptimeSeconds) +
      ' · ' + (c.active || 0) + ' active connections · ' + bytes(c.pendingWriteBytes || 0) + ' waiting on slow readers';
    var all = (health.listeners && health.listeners.all) || listenerNames.map(function (name) { return { name: name, accepting: health.listeners.echo.accepting }; });
    fill('listeners', all, function (row, l) {
      var r = rates[l.name] || {};
      row.className = l.accepting ? '' : 'down';
      cell(row, l.name);
      cell(row, l.scheme);
      cell(row, l.address === undefined ? '' : (l.address.indexOf(':') >= 0 ? '[' + l.address + ']' : l.address) + ':' + l.port);
      cell(row, l.accepting ? 'accepting' : 'not accepting');
      cell(row, current.active[l.name], true);
      cell(row, current.accepted[l.name], true);
      cell(row, r.accepted === undefined ? '' : r.accepted.toFixed(1), true);
      cell(row, r.received === undefined ? '' : bytes(r.received) + '/s', true);
      cell(row, r.sent === undefined ? '' : bytes(r.sent) + '/s', true);
      cell(row, current.received[l.name] === undefined ? '' : bytes(current.received[l.name]), true);
      cell(row, current.sent[l.name] === undefined ? '' : bytes(current.sent[l.name]), true);
    });
  }

  function describeTls(tls) {
    if (!tls) return '';
    return [tls.protocol, tls.cipher, tls.servername && 'SNI ' + tls.servername, tls.alpn && 'ALPN ' + tls.alpn, tls.clientCertificate && 'cert ' + tls.clientCertificate].filter(Boolean).join(' · ');
  }
  function describeProxy(proxy) {
    if (!proxy) return '';
    return Object.keys(proxy).map(function (key) { return key + '=' + (typeof proxy[key] === 'object' ? JSON.stringify(proxy[key]) : proxy[key]); }).join(' ');
  }
  function updateConnections(body) {
    $('connections-count').textContent = '(' + body.connections.length + ' of ' + body.total + ')';
    fill('connections', body.connections, function (row, c) {
      if (c.readingPaused) row.className = 'paused';
      cell(row, c.worker === undefined ? c.listener : c.listener + ' (worker ' + c.worker + ')'); cell(row, c.client); cell(row, c.peer); cell(row, c.local);
      cell(row, describeTls(c.tls)); cell(row, describeProxy(c.proxy));
      cell(row, bytes(c.bytesIn), true); cell(row, bytes(c.bytesOut), true);
      cell(row, duration(c.ageSeconds), true); cell(row, duration(c.idleSeconds), true);
      cell(row, c.readingPaused ? 'yes' : ''); cell(row, bytes(c.pendingWriteBytes), true);
    });
  }

  function showError(message) {
    $('error').hidden = message === '';
    $('error').textContent = message;
  }

  var busy = false;
  function tick() {
    if (busy || document.hidden) return;
    busy = true;
    var sort = $('sort').value;
    Promise.all([
      get('healthz').then(function (r) { return r.json(); }),
      get('metrics').then(function (r) {
        if (!r.ok) throw new Error('/metrics answered ' + r.status);
        return r.text();
      }),
      get('connections?limit=100&sort=' + sort).then(function (r) {
        if (!r.ok) throw new Error('/connections answered ' + r.status);
        return r.json();
      }),
    ]).then(function (results) {
      var current = updateMetrics(parseMetrics(results[1]));
      updateListeners(results[0], current);
      updateConnections(results[2]);
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      showError('');
    }, function (error) {
      if (error instanceof Unauthorized) {
        $('token-form').hidden = false;
        showError(token ? 'the token was refused' : '');
      } else {
        showError('cannot reach the sidecar: ' + (error && error.message ? error.message : String(error)));
      }
    }).then(function () { busy = false; });
  }

  $('sort').addEventListener('change', tick);
  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (id) { charts[id].setSize({ width: Math.max(300, $(id).clientWidth), height: 200 }); });
  });
  document.addEventListener('visibilitychange', tick);
  // Once a second while the page is visible; nothing at all while it is hidden.
  setInterval(tick, 1000);
  tick();
})();
`;
