'use strict';
// Runs a fixture with Node's built-ins and with corral's, for side-by-side comparison.
const { spawn } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const fixture = (name) => path.join(__dirname, 'fixtures', name);

// mode: 'node' (built-ins), 'corral' (CP/CLUSTER env point at corral) or 'register'
// (node -r register.js: the program's own require('cluster') is corral's).
function run(script, args = [], { mode = 'node', env = {}, timeout = 15000 } = {}) {
  const execArgv = mode === 'register' ? ['-r', path.join(root, 'register.js')] : [];
  const extra = mode === 'corral' ?
    { CP: path.join(root, 'child_process.js'), CLUSTER: path.join(root, 'cluster.js') } : {};
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...execArgv, script, ...args], {
      env: { ...process.env, ...extra, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${mode} timed out\n${stdout}\n${stderr}`));
    }, timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, pid: child.pid });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Running (a zombie left to an init that does not reap is not running).
function alive(pid) {
  try {
    const stat = require('fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

module.exports = { run, fixture, root, sleep, alive };
