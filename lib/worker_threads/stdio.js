'use strict';
// Worker stdio relayed through the parent, as Node's workers do: the worker's process.stdout /
// process.stderr send whole chunks over the control port (so lines from different threads never
// interleave mid-chunk), the parent pushes them into worker.stdout / worker.stderr, which by
// default are piped to its own process.stdout / process.stderr.
const { Readable, Writable } = require('stream');

// Node's names for a worker's stdio streams, on both sides (what a tool sees of their class).
// As Node's, each has one 'end' listener from the start (Node's lets go of the port's ref there);
// corral's worker stdin lets go of its hold on the control port in it.
const kOnEnd = Symbol('corral.stdio.onEnd');
class ReadableWorkerStdio extends Readable {
  constructor(options) {
    super(options);
    this[kOnEnd] = null;
    this.on('end', () => {
      if (this[kOnEnd] !== null) this[kOnEnd]();
    });
  }
}

// Worker side: process.stdout / process.stderr. As Node's, a Writable with `_writev` on its
// prototype and no `_write` of its own, so every write goes through `_writev` (a program that
// replaces it, as synckit does to capture a worker's output, sees them all). Each batch is
// posted at once; its write completes when the parent has taken its last chunk (the
// 'stdioAck' names how many chunks it has taken so far): writableLength counts what the parent
// has not yet read, and 'drain' follows the parent's pace. What is still buffered when the
// worker's process emits 'exit' is posted then (flushAtExit), as Node's flushes it.
const kAcknowledge = Symbol('corral.stdio.acknowledge');
const kHolds = Symbol('corral.stdio.holds');
const kControl = Symbol('corral.stdio.control');
const kFd = Symbol('corral.stdio.fd');
const kSent = Symbol('corral.stdio.sent');
const kTaken = Symbol('corral.stdio.taken');
const kWaiting = Symbol('corral.stdio.waiting');

// The control port keeps the worker alive while stdio waits on the parent (stdin being read,
// stdout not yet taken); it is unref'd otherwise.
function hold(control) {
  control[kHolds] = (control[kHolds] ?? 0) + 1;
  if (control[kHolds] === 1) control.ref();
}

function release(control) {
  control[kHolds] -= 1;
  if (control[kHolds] === 0) control.unref();
}

class WritableWorkerStdio extends Writable {
  constructor(control, fd) {
    super({ decodeStrings: false });
    this[kControl] = control;
    this[kFd] = fd;
    // Chunks are numbered as they are sent; the parent acknowledges by number.
    this[kSent] = 0;
    this[kTaken] = 0;
    // Write callbacks waiting for the parent, each with the number of its batch's last chunk.
    this[kWaiting] = [];
  }

  _writev(chunks, callback) {
    if (this[kFd] === 0) {
      for (let i = 0; i < chunks.length; i++) {
        const { chunk, encoding } = chunks[i];
        const data = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
        this[kControl].postMessage({ type: 'stdin', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
      }
      callback();
      return;
    }
    let last = this[kSent];
    // (Indexed: see port.js deliver.)
    for (let i = 0; i < chunks.length; i++) last = sendChunk(this, chunks[i].chunk, chunks[i].encoding);
    if (last <= this[kTaken]) {
      callback();
      return;
    }
    if (this[kWaiting].length === 0) hold(this[kControl]);
    this[kWaiting].push({ last, callback });
  }

  _final(callback) {
    if (this[kFd] === 0) this[kControl].postMessage({ type: 'stdin', data: null });
    callback();
  }

  [kAcknowledge](upTo) {
    this[kTaken] = Math.max(this[kTaken], upTo);
    const waiting = this[kWaiting];
    if (waiting.length === 0) return;
    const done = waiting.filter((w) => w.last <= this[kTaken]);
    if (done.length === 0) return;
    this[kWaiting] = waiting.filter((w) => w.last > this[kTaken]);
    if (this[kWaiting].length === 0) release(this[kControl]);
    // (Indexed: this runs at exit too, after the program may have patched array iteration.)
    for (let i = 0; i < done.length; i++) done[i].callback();
  }
}

function sendChunk(stream, chunk, encoding) {
  let data = chunk;
  if (typeof chunk === 'string' && encoding !== 'utf8' && encoding !== 'utf-8' && Buffer.isEncoding(encoding)) {
    data = Buffer.from(chunk, encoding);
  }
  if (typeof data !== 'string') data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  stream[kControl].postMessage({ type: 'stdio', fd: stream[kFd], data });
  return ++stream[kSent];
}

function relayWritable(control, fd) {
  return new WritableWorkerStdio(control, fd);
}

// Worker side, at the process's 'exit': the streams' pending writes complete as if the parent
// had taken them, so what the streams still buffer goes out now (in one _writev each), as
// Node's worker flushes its stdio at exit.
function flushAtExit(stdout, stderr) {
  stdout[kAcknowledge](stdout[kSent]);
  stderr[kAcknowledge](stderr[kSent]);
}

// Worker side: the parent has taken the chunks of `stream` numbered up to `upTo`.
function acknowledged(stream, upTo) {
  stream[kAcknowledge](upTo);
}

// Parent side: acknowledges a worker's stdio chunks (by how many it has taken), once per tick
// and stream.
function acknowledger(control) {
  const pending = new Map();
  return (fd, upTo) => {
    const scheduled = pending.has(fd);
    pending.set(fd, upTo);
    if (scheduled) return;
    process.nextTick(() => {
      const last = pending.get(fd);
      pending.delete(fd);
      try {
        control.postMessage({ type: 'stdioAck', fd, upTo: last });
      } catch {}
    });
  };
}

// Either side: a Readable fed by pushes from the other thread.
function pushReadable() {
  return new ReadableWorkerStdio({ read() {} });
}

const kTake = Symbol('corral.stdio.take');

// Parent side: worker.stdout / worker.stderr. A chunk is acknowledged (the worker's write
// completes) while the stream has room; past its highWaterMark, only once the program reads
// on: as in Node, a worker writing faster than its parent reads waits (and a parent that never
// reads keeps it waiting).
function workerOutput(acknowledge) {
  // Chunks received so far; whether the last ones wait for the program to read.
  let received = 0;
  let owed = false;
  const stream = new ReadableWorkerStdio({
    read() {
      if (!owed) return;
      owed = false;
      acknowledge(received);
    },
  });
  stream[kTake] = (chunk) => {
    received++;
    if (stream.push(chunk)) acknowledge(received);
    else owed = true;
  };
  return stream;
}

// Parent side: a chunk from the worker into worker.stdout / worker.stderr.
function takeOutput(stream, data) {
  stream[kTake](toChunk(data));
}

// Worker side: process.stdin, fed by the parent's worker.stdin (or empty). While something
// reads it, the control port holds the worker's event loop, as Node's worker stdin does.
function relayedStdin(control, enabled) {
  if (!enabled) {
    const empty = pushReadable();
    empty.push(null);
    return empty;
  }
  let held = false;
  const stdin = new ReadableWorkerStdio({
    read() {
      if (!held) hold(control);
      held = true;
    },
  });
  stdin[kOnEnd] = () => {
    if (held) release(control);
    held = false;
  };
  return stdin;
}

// Parent side: worker.stdin (fd 0 of the same class, as Node's), whose writes reach the
// worker's process.stdin at once.
function parentStdin(control) {
  return new WritableWorkerStdio(control, 0);
}

function toChunk(data) {
  return typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

module.exports = { relayWritable, flushAtExit, acknowledged, acknowledger, pushReadable, workerOutput, takeOutput, relayedStdin,
  parentStdin, toChunk };
