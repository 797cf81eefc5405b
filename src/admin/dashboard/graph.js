// The mesh graph: workloads on a circle (sorted, so the picture is stable), one curved arrow
// per edge coloured by mTLS / plaintext / denied. Plain SVG, no library.
(function () {
  'use strict';
  const NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function edgeClass(e) { return e.denied > 0 ? 'denied' : e.secured ? 'mtls' : 'plaintext'; }

  /** nodes: [{id, label, kind: 'meshed'|'unmeshed'|'external'}]; edges: [{from, to, secured, denied, requests}] */
  function render(svg, nodes, edges) {
    const W = 900, H = 420, cx = W / 2, cy = H / 2, r = Math.min(W, H) / 2 - 60;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const defs = el('defs');
    for (const [cls, color] of [['mtls', '#1a7f37'], ['plaintext', '#d4a72c'], ['denied', '#cf222e']]) {
      const m = el('marker', { id: `arrow-${cls}`, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
      m.appendChild(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: color }));
      defs.appendChild(m);
    }
    svg.appendChild(defs);
    const sorted = [...nodes].sort((a, b) => a.id.localeCompare(b.id));
    const pos = new Map();
    sorted.forEach((n, i) => {
      const a = sorted.length === 1 ? 0 : (2 * Math.PI * i) / sorted.length - Math.PI / 2;
      pos.set(n.id, { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) });
    });
    const R = 26;
    const g = el('g', { class: 'edges' });
    for (const e of edges) {
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b || e.from === e.to) continue;
      const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
      const ux = dx / len, uy = dy / len;
      const s = { x: a.x + ux * R, y: a.y + uy * R }, t = { x: b.x - ux * (R + 2), y: b.y - uy * (R + 2) };
      // Bend to the right of the direction, so A→B and B→A do not overlap.
      const mx = (s.x + t.x) / 2 - uy * 30, my = (s.y + t.y) / 2 + ux * 30;
      const cls = edgeClass(e);
      const ge = el('g', { class: `edge ${cls}`, 'data-from': e.from, 'data-to': e.to, 'data-secured': e.secured, 'data-denied': e.denied });
      ge.appendChild(el('path', { d: `M ${s.x} ${s.y} Q ${mx} ${my} ${t.x} ${t.y}`, 'marker-end': `url(#arrow-${cls})` }));
      ge.appendChild(el('text', { x: mx, y: my }, `${cls === 'mtls' ? 'mTLS' : cls}${e.denied ? ` ${e.denied}×403` : ''} · ${e.requests}`));
      ge.appendChild(el('title', {}, `${e.from} → ${e.to}: ${e.secured ? 'mTLS' : 'plaintext'}, ${e.requests} requests, ${e.denied} denied`));
      g.appendChild(ge);
    }
    svg.appendChild(g);
    const gn = el('g', { class: 'nodes' });
    for (const n of sorted) {
      const p = pos.get(n.id);
      const node = el('g', { class: `node ${n.kind}`, 'data-id': n.id, transform: `translate(${p.x},${p.y})` });
      node.appendChild(el('circle', { r: R }));
      node.appendChild(el('text', { y: R + 14 }, n.label));
      node.appendChild(el('title', {}, n.title || n.id));
      gn.appendChild(node);
    }
    svg.appendChild(gn);
  }
  window.MeshGraph = { render };
})();
