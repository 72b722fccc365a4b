'use strict';
// The supervisor's status as a terminal table and in Prometheus' text format.
function duration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

const mib = (bytes) => (bytes == null ? '-' : `${(bytes / 1048576).toFixed(1)} MiB`);
const dash = (v, f = String) => (v == null ? '-' : f(v));

function table(status) {
  const head = ['slot', 'id', 'pid', 'state', 'uptime', 'restarts', 'cpu', 'rss', 'conns open', 'conns served'];
  const rows = status.workers.map((w) => [
    String(w.slot), dash(w.id), dash(w.pid), w.state, w.pid ? duration(w.uptimeMs) : '-', String(w.restarts),
    dash(w.cpuPercent, (c) => `${c}%`), mib(w.rssBytes), dash(w.connectionsOpen), dash(w.connectionsServed),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [`${status.name} (primary pid ${status.pid}, ${status.state}, up ${duration(status.uptimeMs)})`,
    line(head), ...rows.map(line)].join('\n');
}

function prometheus(app, status) {
  const label = (w) => `app="${app}",slot="${w.slot}"`;
  const out = [];
  const metric = (name, type, help, value) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const w of status.workers) {
      const v = value(w);
      if (v != null) out.push(`${name}{${label(w)}} ${v}`);
    }
  };
  metric('corral_worker_up', 'gauge', 'Whether the slot has a worker serving.', (w) => (w.state === 'online' ? 1 : 0));
  metric('corral_worker_restarts_total', 'counter', 'Workers started in the slot after its first.', (w) => w.restarts);
  metric('corral_worker_uptime_seconds', 'gauge', "Seconds since the slot's worker started.", (w) => (w.pid ? w.uptimeMs / 1000 : null));
  metric('corral_worker_cpu_percent', 'gauge', 'CPU use of the worker over the last second.', (w) => w.cpuPercent);
  metric('corral_worker_resident_memory_bytes', 'gauge', 'Resident memory of the worker.', (w) => w.rssBytes);
  metric('corral_worker_connections_open', 'gauge', 'Connections the worker holds now.', (w) => w.connectionsOpen);
  metric('corral_worker_connections_served_total', 'counter', 'Connections the worker has taken since it started.', (w) => w.connectionsServed);
  return `${out.join('\n')}\n`;
}

module.exports = { table, prometheus, duration };
