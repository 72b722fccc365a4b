'use strict';
// Hello-world HTTP with WORKERS workers; CLUSTER picks the cluster module (node's or corral's).
// BUSY=1 keeps the primary's JS thread ~50 % busy; WORK_MS=n makes each request take n ms of
// CPU in its worker. Prints "ready <port> pids <worker pids>".
const cluster = require(process.env.CLUSTER || 'cluster');
const http = require('http');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS || 2);
  let listening = 0;
  const pids = [];
  cluster.on('listening', (w, addr) => {
    pids.push(w.process.pid);
    if (++listening === n) console.log(`ready ${addr.port} pids ${pids.join(',')}`);
  });
  for (let i = 0; i < n; i++) cluster.fork();
  if (process.env.BUSY === '1') {
    setInterval(() => {
      const end = Date.now() + 5;
      while (Date.now() < end);
    }, 10);
  }
} else {
  const workMs = Number(process.env.WORK_MS || 0);
  http.createServer((req, res) => {
    if (workMs > 0) {
      const end = performance.now() + workMs;
      while (performance.now() < end);
    }
    res.end('Hello!');
  }).listen(Number(process.env.PORT || 0), '127.0.0.1');
}
