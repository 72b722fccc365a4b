'use strict';
// Worker stdio relayed through the parent, as Node's workers do: the worker's process.stdout /
// process.stderr send whole chunks over the control port (so lines from different threads never
// interleave mid-chunk), the parent pushes them into worker.stdout / worker.stderr, which by
// default are piped to its own process.stdout / process.stderr.
const { Readable, Writable } = require('stream');

// Worker side: a Writable that posts chunks to the parent.
function relayWritable(control, fd) {
  const stream = new Writable({
    decodeStrings: false,
    write(chunk, encoding, callback) {
      send(chunk, encoding);
      callback();
    },
    writev(chunks, callback) {
      for (const { chunk, encoding } of chunks) send(chunk, encoding);
      callback();
    },
  });
  function send(chunk, encoding) {
    let data = chunk;
    if (typeof chunk === 'string' && encoding !== 'utf8' && encoding !== 'utf-8') {
      data = Buffer.from(chunk, encoding);
    }
    if (typeof data !== 'string') data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    control.postMessage({ type: 'stdio', fd, data });
  }
  stream.fd = undefined;
  return stream;
}

// Either side: a Readable fed by pushes from the other thread.
function pushReadable() {
  return new Readable({ read() {} });
}

// Worker side: process.stdin, fed by the parent's worker.stdin (or empty). While something
// reads it, the control port holds the worker's event loop, as Node's worker stdin does.
function relayedStdin(control, enabled) {
  if (!enabled) {
    const empty = pushReadable();
    empty.push(null);
    return empty;
  }
  const stdin = new Readable({ read() { control.ref(); } });
  stdin.once('end', () => control.unref());
  return stdin;
}

// Parent side: worker.stdin, whose writes reach the worker's process.stdin.
function parentStdin(control) {
  return new Writable({
    decodeStrings: false,
    write(chunk, encoding, callback) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
      control.postMessage({ type: 'stdin', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
      callback();
    },
    final(callback) {
      control.postMessage({ type: 'stdin', data: null });
      callback();
    },
  });
}

function toChunk(data) {
  return typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

// Runs the stream code paths a worker's stdio takes once, with nothing attached, so that V8
// has compiled them (it compiles functions on first call) before a warm thread is claimed.
function prime() {
  const out = relayWritable({ postMessage() {} }, 1);
  out.write('');
  out.end();
  relayedStdin(null, false).resume();
}

module.exports = { prime, relayWritable, pushReadable, relayedStdin, parentStdin, toChunk };
