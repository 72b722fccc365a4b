// node -r corral/register examples/hello-worker.js
const { Worker } = require("worker_threads");
new Worker(`const { parentPort } = require('worker_threads'); parentPort.postMessage('Hello from Worker');`, { eval: true }).on("message", console.log);
