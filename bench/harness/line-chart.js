'use strict';
// A hand-written SVG line chart in the style of report.js's bar charts:
// hit ratio (0..100%) over requests, one polyline per series, a dashed
// line where something happened (a restart).

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * title, subtitle; series: [{ label, color, dash?, points: [[x, y]] }] with
 * y in 0..1; marks: [{ x, label }].
 */
function lineChart({ title, subtitle, xLabel, series, marks = [] }) {
  const W = 1000;
  const H = 420;
  const L = 60;
  const R = 20;
  const T = 70;
  const B = 50;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const xMax = Math.max(...xs, 1);
  const x = (v) => L + (v / xMax) * (W - L - R);
  const y = (v) => T + (1 - v) * (H - T - B);
  const out = [];
  out.push(`<text x="10" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="10" y="40" font-size="11" fill="#57606a">${esc(subtitle)}</text>`);
  let lx = 10;
  for (const s of series) {
    out.push(`<rect x="${lx}" y="48" width="10" height="10" fill="${s.color}"/><text x="${lx + 14}" y="57" font-size="11">${esc(s.label)}</text>`);
    lx += s.label.length * 6 + 34;
  }
  for (let t = 0; t <= 1.0001; t += 0.2) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#d0d7de" stroke-width="1"/>`);
    out.push(`<text x="${L - 6}" y="${(y(t) + 4).toFixed(1)}" font-size="10" text-anchor="end" fill="#57606a">${Math.round(t * 100)}%</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const v = (xMax * i) / 5;
    out.push(`<text x="${x(v).toFixed(1)}" y="${H - B + 14}" font-size="10" text-anchor="middle" fill="#57606a">${esc(v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${Math.round(v / 1e3)}k` : v)}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>`);
  for (const m of marks) {
    out.push(`<line x1="${x(m.x).toFixed(1)}" x2="${x(m.x).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#cf222e" stroke-width="1" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${(x(m.x) + 4).toFixed(1)}" y="${T + 12}" font-size="11" fill="#cf222e">${esc(m.label)}</text>`);
  }
  for (const s of series) {
    const pts = s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts}"/>`);
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { lineChart };
