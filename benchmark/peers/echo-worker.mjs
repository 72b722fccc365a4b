// Echoes each message; `{ count }` switches to counting that many messages, then answers once.
import { parentPort } from 'node:worker_threads';

let counting = 0;
parentPort.on('message', (m) => {
  if (counting > 0) {
    if (--counting === 0) parentPort.postMessage('counted');
  } else if (m && typeof m === 'object' && 'count' in m) {
    counting = m.count;
  } else if (m && m.buf) {
    parentPort.postMessage(m, [m.buf]);
  } else {
    parentPort.postMessage(m);
  }
});
parentPort.postMessage('ready');
