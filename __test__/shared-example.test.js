'use strict';
// examples/shared-counter: cluster workers count requests in shared memory, the primary prints.
const test = require('node:test');
const assert = require('node:assert');
const http = require('http');
const path = require('path');
const { spawn } = require('child_process');

function get(port) {
  return new Promise((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('shared-counter example: requests to 2 cluster workers add up in the primary', { timeout: 60000 }, async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'examples', 'shared-counter'), '2'], {
    env: { ...process.env, PORT: '0', RUN_SECONDS: '4' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 30000);
  let out = '';
  child.stdout.setEncoding('utf8');
  const port = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`exited early: ${out}`)));
  });
  const n = 300;
  const pids = new Set();
  for (let i = 0; i < n; i += 10) {
    const bodies = await Promise.all(Array.from({ length: 10 }, () => get(port)));
    for (const b of bodies) pids.add(/worker (\d+)/.exec(b)[1]);
  }
  const code = await new Promise((resolve) => child.once('exit', resolve));
  clearTimeout(guard);
  assert.strictEqual(code, 0, out);
  assert.match(out, new RegExp(`final: ${n} requests`));
  assert.match(out, /requests: \d+ total, \d+\/s/);
  assert.ok(pids.size >= 1);
});
