// The main job corral is for: an HTTP server clustered across the cores, whose workers move
// CPU work off their event loop into worker threads. Unmodified Node code:
//
//   node -r corral/register examples/cluster-worker-server.js          serve on :3000
//   node -r corral/register examples/cluster-worker-server.js --demo   serve on a free port,
//                                       send a few requests, print the answers, and exit
const cluster = require('cluster');
const http = require('http');
const os = require('os');
const { Worker } = require('worker_threads');

const demo = process.argv.includes('--demo');

// sum of 0..n-1, computed in a worker thread
function sumInThread(n) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(`
      const { parentPort, workerData } = require('worker_threads');
      let sum = 0;
      for (let i = 0; i < workerData; i++) sum += i;
      parentPort.postMessage(sum);`, { eval: true, workerData: n });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

if (cluster.isPrimary) {
  const workers = demo ? 2 : os.availableParallelism();
  console.log(`primary ${process.pid}: starting ${workers} workers`);
  for (let i = 0; i < workers; i++) cluster.fork();
  if (demo) {
    let listening = 0;
    cluster.on('listening', (worker, address) => {
      if (++listening === workers) runDemo(address.port);
    });
  }
} else {
  const server = http.createServer(async (req, res) => {
    const n = Number(new URL(req.url, 'http://x').searchParams.get('n') ?? 1e7);
    const sum = await sumInThread(Math.min(n, 1e9));
    res.end(`sum(0..${n - 1}) = ${sum} from worker pid ${process.pid}\n`);
  });
  server.listen(demo ? 0 : 3000, '127.0.0.1');
}

async function runDemo(port) {
  const get = (n) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `/?n=${n}`, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; }).on('end', () => resolve(body.trim()));
    }).on('error', reject);
  });
  const answers = await Promise.all([1e6, 2e6, 3e6, 4e6].map(get));
  for (const answer of answers) console.log(answer);
  const pids = new Set(answers.map((a) => a.split(' ').pop()));
  console.log(`${answers.length} answers from ${pids.size} worker process(es)`);
  cluster.disconnect(() => process.exit(0));
}
