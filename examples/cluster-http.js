// An unmodified cluster program. Run it on corral with:
//   node -r corral/register examples/cluster-http.js
// (schedules: NODE_CLUSTER_SCHED_POLICY=rr (default) | none | reuseport)
// then: curl http://127.0.0.1:3000/
const cluster = require('cluster');
const http = require('http');
const numCPUs = require('os').cpus().length;

if (cluster.isPrimary) {
  console.log(`Master ${process.pid} is running`);
  for (let i = 0; i < numCPUs; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => console.log(`worker ${worker.process.pid} died (${signal || code})`));
} else {
  http.createServer((req, res) => res.end(`Handled by PID: ${process.pid}`)).listen(3000, '127.0.0.1');
  console.log(`Worker ${process.pid} started`);
}
