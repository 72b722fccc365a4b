// A hello-world HTTP server on 2 cluster workers, through node:cluster and node:http, for every
// runtime (corral with --import corral/register). Prints "ready <port> pids <primary>,<workers>".
import cluster from 'node:cluster';
import http from 'node:http';

if (cluster.isPrimary) {
  const pids = [process.pid];
  let listening = 0;
  for (let i = 0; i < 2; i++) {
    const worker = cluster.fork();
    worker.on('listening', (address) => {
      pids.push(worker.process.pid);
      if (++listening === 2) console.log(`ready ${address.port} pids ${pids.join(',')}`);
    });
  }
} else {
  http.createServer((req, res) => res.end('Hello!')).listen(0, '127.0.0.1');
}
