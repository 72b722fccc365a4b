'use strict';
// Worker stdio relayed through the parent, as Node's workers do: the worker's process.stdout /
// process.stderr send whole chunks over the control port (so lines from different threads never
// interleave mid-chunk), the parent pushes them into worker.stdout / worker.stderr, which by
// default are piped to its own process.stdout / process.stderr.
const { Readable, Writable } = require('stream');

// Node's names for a worker's stdio streams, on both sides (what a tool sees of their class).
class ReadableWorkerStdio extends Readable {}
class WritableWorkerStdio extends Writable {}

// Worker side: a Writable that posts chunks to the parent. Each chunk leaves at once (so
// nothing is lost when the worker ends or crashes right after writing), but, as in Node, a write
// completes only when the parent has taken that chunk (its 'stdioAck' names how many chunks it
// has taken so far): writableLength counts what the parent has not yet read, and 'drain' follows
// the parent's pace.
const kAcknowledge = Symbol('corral.stdio.acknowledge');
const kHolds = Symbol('corral.stdio.holds');

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

function relayWritable(control, fd) {
  // Chunks are numbered as they are sent; the parent acknowledges by number.
  let sent = 0;
  let taken = 0;
  // Write callbacks waiting for the parent, each with the number of the last chunk it covers.
  let waiting = [];
  // Chunks write()/end() posted that the stream has not handed to _write yet (a corked stream
  // holds them), with their numbers: _write sends what is not among them (a write that bypassed
  // write(), such as Writable.prototype.write.call(process.stdout, ...)).
  const posted = [];
  const stream = new WritableWorkerStdio({
    decodeStrings: false,
    write(chunk, encoding, callback) {
      wait(takePosted(chunk) ?? send(chunk, encoding), callback);
    },
    writev(chunks, callback) {
      let last = 0;
      for (const { chunk, encoding } of chunks) last = takePosted(chunk) ?? send(chunk, encoding);
      wait(last, callback);
    },
  });
  function send(chunk, encoding) {
    let data = chunk;
    if (typeof chunk === 'string' && encoding !== 'utf8' && encoding !== 'utf-8' && Buffer.isEncoding(encoding)) {
      data = Buffer.from(chunk, encoding);
    }
    if (typeof data !== 'string') data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    control.postMessage({ type: 'stdio', fd, data });
    return ++sent;
  }
  // (A Uint8Array reaches _write as a Buffer over the same bytes.)
  const sameChunk = (a, b) => a === b || (typeof a === 'object' && typeof b === 'object' &&
    a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.byteLength === b.byteLength);
  function takePosted(chunk) {
    if (posted.length === 0 || !sameChunk(posted[0].chunk, chunk)) return undefined;
    return posted.shift().number;
  }
  function post(chunk, encoding) {
    posted.push({ chunk, number: send(chunk, encoding) });
  }
  const sendable = (chunk) => typeof chunk === 'string' || chunk instanceof Uint8Array;
  const write = stream.write;
  stream.write = function (chunk, encoding, callback) {
    if (sendable(chunk) && !this.writableEnded && !this.destroyed) {
      post(chunk, typeof encoding === 'string' ? encoding : this._writableState.defaultEncoding);
    }
    return write.call(this, chunk, encoding, callback);
  };
  const end = stream.end;
  stream.end = function (chunk, encoding, callback) {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (sendable(chunk) && !this.writableEnded && !this.destroyed) {
      post(chunk, encoding ?? this._writableState.defaultEncoding);
      write.call(this, chunk, encoding);
      return end.call(this, callback);
    }
    return end.call(this, chunk, encoding, callback);
  };
  // A chunk the parent has already taken (the acknowledgement of a corked chunk comes before its
  // _write) completes at once.
  function wait(number, callback) {
    if (number <= taken) {
      callback();
      return;
    }
    if (waiting.length === 0) hold(control);
    waiting.push({ number, callback });
  }
  stream[kAcknowledge] = (upTo) => {
    taken = Math.max(taken, upTo);
    if (waiting.length === 0) return;
    const done = waiting.filter((w) => w.number <= taken);
    if (done.length === 0) return;
    waiting = waiting.filter((w) => w.number > taken);
    if (waiting.length === 0) release(control);
    for (const { callback } of done) callback();
  };
  stream.fd = undefined;
  return stream;
}

// Worker side: the parent has taken the chunks of `stream` numbered up to `upTo`.
function acknowledged(stream, upTo) {
  stream[kAcknowledge]?.(upTo);
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
  stdin.once('end', () => {
    if (held) release(control);
    held = false;
  });
  return stdin;
}

// Parent side: worker.stdin, whose writes reach the worker's process.stdin.
function parentStdin(control) {
  return new WritableWorkerStdio({
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

module.exports = { relayWritable, acknowledged, acknowledger, pushReadable, workerOutput, takeOutput, relayedStdin,
  parentStdin, toChunk };
