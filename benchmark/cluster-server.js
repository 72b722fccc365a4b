'use strict';
// Hello-world HTTP with WORKERS workers; CLUSTER picks the cluster module (node's or corral's).
// BUSY=1 keeps the primary's JS thread ~50 % busy. Prints "ready <port>".
const cluster = require(process.env.CLUSTER || 'cluster');
const http = require('http');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS || 2);
  let listening = 0;
  cluster.on('listening', (w, addr) => {
    if (++listening === n) console.log(`ready ${addr.port}`);
  });
  for (let i = 0; i < n; i++) cluster.fork();
  if (process.env.BUSY === '1') {
    setInterval(() => {
      const end = Date.now() + 5;
      while (Date.now() < end);
    }, 10);
  }
} else {
  http.createServer((req, res) => res.end('Hello!')).listen(Number(process.env.PORT || 0), '127.0.0.1');
}
