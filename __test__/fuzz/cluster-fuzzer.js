'use strict';
// A cluster worker for the fuzz harness: hands its own channel (Node's, NODE_CHANNEL_FD) to
// frames.py, which writes the misbehaving frames; prints how many were written.
const { spawn } = require('child_process');
const path = require('path');

const py = spawn(process.env.FUZZ_PYTHON || 'python3', [path.join(__dirname, 'frames.py')], {
  stdio: ['ignore', 'pipe', 'inherit', process.channel.fd],
  env: { ...process.env, NODE_CHANNEL_FD: '3' },
});
let out = '';
py.stdout.on('data', (d) => { out += d; });
py.on('exit', () => {
  process.stdout.write(out);
  process.exit(0);
});
