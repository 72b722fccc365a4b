'use strict';
// Test helpers: run a script under node's built-ins and under corral (-r corral/register) so a
// test can assert that both behave the same.
const { spawn } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const register = path.join(root, 'register.js');
const fixture = (name) => path.join(__dirname, 'fixtures', name);

function run(args, { env, timeout = 30000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: node ${args.join(' ')}\n${stdout}\n${stderr}`));
    }, timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

const runNode = (file, args = [], opts) => run([file, ...args], opts);
const runCorral = (file, args = [], opts) => run(['-r', register, file, ...args], opts);

async function runBoth(file, args, opts) {
  const node = await runNode(file, args, opts);
  const corral = await runCorral(file, args, opts);
  return { node, corral };
}

// Resolves with the first event of `name` (or rejects on 'error' unless name is 'error').
function once(emitter, name) {
  return new Promise((resolve, reject) => {
    emitter.once(name, (...args) => resolve(args.length > 1 ? args : args[0]));
    if (name !== 'error') emitter.once('error', reject);
  });
}

module.exports = { root, register, fixture, run, runNode, runCorral, runBoth, once };
