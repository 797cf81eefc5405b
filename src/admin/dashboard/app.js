// The dashboard: polls meshd's debug endpoints every 2 s (the same ones meshctl reads) and
// renders the mesh graph, proxies, certificates with a live countdown, and policies. When
// meshd asks for a credential (401), the admin token can be entered; it stays in this tab's
// sessionStorage and goes out only as an Authorization header to this origin.
(function () {
  'use strict';
  const $ = (s) => document.querySelector(s);
  const POLL_MS = 2000;
  let expiries = [];

  function token() { return sessionStorage.getItem('meshd-admin-token') || ''; }
  function headers(extra) { const t = token(); return Object.assign({ accept: 'application/json' }, t ? { authorization: `Bearer ${t}` } : {}, extra || {}); }
  class HttpError extends Error { constructor(status, msg) { super(msg); this.status = status; } }
  async function get(path) {
    const r = await fetch(path, { headers: headers(), cache: 'no-store' });
    if (!r.ok) { let m = ''; try { m = (await r.json()).error; } catch { m = r.statusText; } throw new HttpError(r.status, `${path}: ${r.status} ${m}`); }
    return r.json();
  }
  function text(node, s) { node.textContent = s; return node; }
  function td(s, cls) { const c = document.createElement('td'); if (cls) c.className = cls; c.textContent = s; return c; }
  function row(cells) { const tr = document.createElement('tr'); for (const c of cells) tr.appendChild(c); return tr; }
  function fill(sel, rows) { const tb = $(`${sel} tbody`); tb.replaceChildren(...rows); }
  function short(proxyId) { const p = proxyId.split('~'); return p.length === 4 ? p[2] : proxyId; }
  function countdown(iso) {
    const ms = Date.parse(iso) - Date.now();
    const a = Math.abs(ms), d = Math.floor(a / 864e5), h = Math.floor(a % 864e5 / 36e5), m = Math.floor(a % 36e5 / 6e4), s = Math.floor(a % 6e4 / 1e3);
    const t = d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m ${s}s` : `${m}m ${s}s`;
    return ms >= 0 ? `in ${t}` : `expired ${t} ago`;
  }
  function tick() {
    for (const { cell, iso, soonMs } of expiries) {
      cell.textContent = countdown(iso);
      cell.classList.toggle('soon', Date.parse(iso) - Date.now() < soonMs);
    }
  }

  function renderGraph(reg, edges) {
    const nodes = new Map();
    for (const w of reg.workloads) nodes.set(`${w.namespace}/${w.name}`, { id: `${w.namespace}/${w.name}`, label: w.name, kind: w.meshed ? 'meshed' : 'unmeshed', title: `${w.spiffeId}\n${w.address}` });
    const list = edges.map((e) => {
      const from = e.srcNamespace ? `${e.srcNamespace}/${e.src}` : e.src;
      if (!nodes.has(from)) nodes.set(from, { id: from, label: e.src, kind: 'external', title: `${e.src} (not a known workload)` });
      return { from, to: `${e.dstNamespace}/${e.dst}`, secured: e.secured, denied: e.denied, requests: e.requests };
    });
    window.MeshGraph.render($('#graph'), [...nodes.values()], list);
  }

  function renderProxies(sync) {
    fill('#proxies', sync.proxies.map((p) => {
      const by = {}; for (const t of Object.values(p.types)) by[t.type] = t;
      return row([td(short(p.proxyId), 'mono'), ...['CDS', 'LDS', 'EDS', 'RDS', 'SDS'].map((k) => {
        const st = by[k] ? by[k].state : 'NOT SENT';
        const c = td(st, `state ${st.replace(' ', '-')}`);
        if (by[k] && by[k].lastNack && st === 'NACKED') c.title = by[k].lastNack.message;
        return c;
      })]);
    }));
  }

  function renderCerts(conns, ca) {
    expiries = [];
    const rows = [];
    for (const c of conns) {
      const leaf = c.certificate && c.certificate[0];
      if (!leaf) { rows.push(row([td(short(c.proxyId), 'mono'), td(c.secretSource === 'agent' ? '(from its node agent)' : '(none)'), td(''), td('')])); continue; }
      const cell = td('', 'countdown');
      const life = Date.parse(leaf.notAfter) - Date.parse(leaf.notBefore);
      expiries.push({ cell, iso: leaf.notAfter, soonMs: life / 4 });
      const r = row([td(short(c.proxyId), 'mono'), td(leaf.spiffeId || leaf.subject, 'mono'), td(leaf.serial.slice(0, 8) + '…', 'mono'), cell]);
      r.dataset.spiffe = leaf.spiffeId || '';
      rows.push(r);
    }
    for (const r of ca.roots) {
      const cell = td('', 'countdown');
      expiries.push({ cell, iso: r.notAfter, soonMs: 60 * 864e5 });
      rows.push(row([td(`root ${r.id}${r.signing ? ' (signs)' : ''}`), td(r.subject, 'mono'), td(r.serial.slice(0, 8) + '…', 'mono'), cell]));
    }
    fill('#certs', rows);
    text($('#ca-phase'), `CA ${ca.kind}, phase ${ca.phase}`);
    tick();
  }

  function renderPolicies(az) {
    const rows = [
      ...az.peerAuthentications.map((p) => row([td('PeerAuthentication'), td(`${p.namespace}/${p.name}`, 'mono'), td(p.mode + (Object.keys(p.portLevelMtls).length ? ` (ports: ${Object.entries(p.portLevelMtls).map(([k, v]) => `${k} ${v}`).join(', ')})` : '')), td(p.selector ? Object.entries(p.selector).map(([k, v]) => `${k}=${v}`).join(',') : '(namespace-wide)')])),
      ...az.authorizationPolicies.map((p) => row([td('AuthorizationPolicy'), td(`${p.namespace}/${p.name}`, 'mono'), td(p.action + (p.dryRun ? ' (dry-run)' : '')), td(p.selects.join(', ') || '(no workload)')])),
    ];
    fill('#policies', rows);
  }

  async function refresh() {
    try {
      const [ver, reg, edges, sync, conns, ca, az] = await Promise.all(['/version', '/debug/registryz', '/debug/edges', '/debug/syncz', '/debug/connections', '/ca/status', '/debug/authorizationz'].map(get));
      renderGraph(reg, edges); renderProxies(sync); renderCerts(conns, ca); renderPolicies(az);
      const ready = await fetch('/ready', { cache: 'no-store' }).then((r) => r.ok, () => false);
      const st = $('#status'); st.className = `pill ${ready ? 'ok' : 'bad'}`; text(st, ready ? 'ready' : 'not ready');
      text($('#meta'), `meshd ${ver.version} · snapshot ${reg.generation} · ${sync.proxies.length} proxies · updated ${new Date().toLocaleTimeString()}`);
      $('#error').hidden = true;
      document.body.dataset.loaded = 'true';
    } catch (e) {
      const st = $('#status'); st.className = 'pill bad'; text(st, 'error');
      text($('#error'), e.message); $('#error').hidden = false;
      if (e.status === 401 || e.status === 403) $('#token-form').hidden = false;
    }
  }

  $('#token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem('meshd-admin-token', $('#token').value.trim());
    $('#token').value = '';
    void refresh();
  });
  $('#rotate').addEventListener('click', async () => {
    const out = $('#rotate-result');
    try {
      const ca = await get('/ca/status');
      const step = ca.phase === 'steady' ? 'introduce' : ca.phase === 'introduced' ? 'activate' : 'retire';
      if (!confirm(`Root rotation: run step "${step}"?`)) return;
      const r = await fetch(`/ca/rotate-root?step=${step}`, { method: 'POST', headers: headers({ 'content-type': 'application/json' }), body: '{}' });
      const body = await r.json().catch(() => ({}));
      text(out, r.ok ? `${step}: done` : `${step}: ${r.status} ${body.error || ''}`);
      if (r.status === 401 || r.status === 403) $('#token-form').hidden = false;
      void refresh();
    } catch (e) { text(out, e.message); }
  });
  void refresh();
  setInterval(refresh, POLL_MS);
  setInterval(tick, 1000);
})();
