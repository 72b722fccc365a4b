'use strict';
// A horizontal bar chart as an SVG document: one bar per [label, value], lower is better.
const COLORS = { node: '#5fa04e', corral: '#c0392b', bun: '#d4a373', deno: '#3b4252' };

function escape(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
}

function barChart(title, bars) {
  const width = 560;
  const left = 70;
  const right = 80;
  const barH = 22;
  const gap = 8;
  const top = 30;
  const height = top + bars.length * (barH + gap) + 10;
  const max = Math.max(...bars.map(([, v]) => v), 1e-9);
  const scale = (width - left - right) / max;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="18" font-weight="bold">${escape(title)} (lower is better)</text>`,
  ];
  bars.forEach(([label, value], i) => {
    const y = top + i * (barH + gap);
    const w = Math.max(1, value * scale);
    parts.push(
      `<text x="${left - 6}" y="${y + 16}" text-anchor="end">${escape(label)}</text>`,
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[label] ?? '#888'}"/>`,
      `<text x="${(left + w + 6).toFixed(1)}" y="${y + 16}">${value >= 100 ? value.toFixed(0) : value.toFixed(2)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

module.exports = { barChart };
