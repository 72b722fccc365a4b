'use strict';
// Where an app's control socket lives, and the client side of it (`corral status|reload|stop`).
// The server side is Rust's (src/control): it serves the socket off the primary's JS thread
// and hands each request to the supervisor.
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

// A directory only this user can enter: $XDG_RUNTIME_DIR/corral, or <tmp>/corral-<uid>.
function socketDir() {
  const base = process.env.CORRAL_SOCKET_DIR ||
    (process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'corral') :
      path.join(os.tmpdir(), `corral-${process.getuid()}`));
  return base;
}

function ensureSocketDir() {
  const dir = socketDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  if (st.uid !== process.getuid() || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} must belong to this user and be closed to others (mode 0700)`);
  }
  return dir;
}

const socketPath = (name) => path.join(socketDir(), `${name}.sock`);

// Names of the apps whose sockets are in the directory (running or left behind).
function listNames() {
  try {
    return fs.readdirSync(socketDir()).filter((f) => f.endsWith('.sock')).map((f) => f.slice(0, -5)).sort();
  } catch {
    return [];
  }
}

// Sends one request and resolves with the parsed answer; rejects with code ENOENT or
// ECONNREFUSED when no app of that name runs.
function request(name, message, { timeoutMs = 600000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath(name));
    let text = '';
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(message)}\n`));
    socket.on('data', (d) => { text += d; });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(Object.assign(new Error(`bad answer: ${text.slice(0, 200)}`), { code: 'EPROTO' }));
      }
    });
  });
}

module.exports = { NAME, socketDir, ensureSocketDir, socketPath, listNames, request };
