'use strict';
// Web streams in a transfer list (ReadableStream, WritableStream, TransformStream), as Node
// transfers them: the stream stays where it is, locked, and the receiving thread gets a stream
// of the same kind whose chunks travel over a MessageChannel of corral's (each chunk cloned).
// Node's own transfer (its internal classes and ports) cannot be used here: the receiving side
// is made with the public constructors.
//
// Liveness, as in Node: the side holding the real stream never keeps its thread alive for it,
// and the receiving side only while it waits for an answer (a chunk it pulled, a write's
// acknowledgement); a stream nobody reads lets both threads end.
//
// Over a channel, from the side that holds the real stream:
//   readable: { t: 'chunk', v }, { t: 'close' }, { t: 'error', e }; to it: { t: 'pull' }, { t: 'cancel', e }
//   writable: { t: 'done', ok, e } (one per write, close or abort); to it: { t: 'write', v },
//             { t: 'close' }, { t: 'abort', e }; either side: { t: 'error', e } when the stream fails
const READABLE = 'corral:ReadableStream';
const WRITABLE = 'corral:WritableStream';
const TRANSFORM = 'corral:TransformStream';

let channel;
const newChannel = () => new (channel ??= require('./port').MessageChannel)();

function dataCloneError(message) {
  return new DOMException(message, 'DataCloneError');
}

// An error as it can travel: itself when cloneable, else Node's DataCloneError.
function post(port, message) {
  try {
    port.postMessage(message);
  } catch (error) {
    if (message.t !== 'error' && message.t !== 'cancel' && message.t !== 'abort') throw error;
    port.postMessage({ t: message.t, e: dataCloneError(error.message) });
  }
}

const isReadable = (v) => typeof ReadableStream === 'function' && v instanceof ReadableStream;
const isWritable = (v) => typeof WritableStream === 'function' && v instanceof WritableStream;
const isTransform = (v) => typeof TransformStream === 'function' && v instanceof TransformStream;

// For a transfer-list item: { data, deserializeInfo, ports } when it is a web stream.
function transferOf(item) {
  if (item === null || typeof item !== 'object') return undefined;
  if (isReadable(item)) {
    if (item.locked) throw dataCloneError('Cannot transfer a locked ReadableStream');
    const port = sendReadable(item);
    return { data: { port }, deserializeInfo: READABLE, ports: [port] };
  }
  if (isWritable(item)) {
    if (item.locked) throw dataCloneError('Cannot transfer a locked WritableStream');
    const port = sendWritable(item);
    return { data: { port }, deserializeInfo: WRITABLE, ports: [port] };
  }
  if (isTransform(item)) {
    const { readable, writable } = item;
    if (readable.locked || writable.locked) throw dataCloneError('Cannot transfer a locked TransformStream');
    const r = sendReadable(readable);
    const w = sendWritable(writable);
    return { data: { readable: r, writable: w }, deserializeInfo: TRANSFORM, ports: [r, w] };
  }
  return undefined;
}

// The stream on the receiving thread, or undefined when `deserializeInfo` is not a stream's.
function make(deserializeInfo, data) {
  if (deserializeInfo === READABLE) return receiveReadable(data.port);
  if (deserializeInfo === WRITABLE) return receiveWritable(data.port);
  if (deserializeInfo === TRANSFORM) {
    // Its two sides, each transferred: an object of the class with those as its sides.
    return Object.create(TransformStream.prototype, {
      readable: { value: receiveReadable(data.readable), enumerable: true },
      writable: { value: receiveWritable(data.writable), enumerable: true },
    });
  }
  return undefined;
}

// The side holding a readable: one chunk per pull, and one read ahead (as Node's pipe into the
// channel), so that the end or an error of the source is sent as soon as it comes, not at the
// next pull (by then this thread may have ended).
function sendReadable(stream) {
  const { port1: port, port2: far } = newChannel();
  const reader = stream.getReader();
  let ended = false;
  let ahead = null;  // the read made ahead of the next pull
  const end = () => {
    ended = true;
    port.close();
  };
  const finish = (result) => {
    if (ended || !result.done) return false;
    post(port, { t: 'close' });
    end();
    return true;
  };
  const fail = (error) => {
    if (ended) return;
    post(port, { t: 'error', e: error });
    end();
  };
  const readAhead = () => {
    ahead = reader.read();
    ahead.then(finish, fail);
  };
  port.on('message', (m) => {
    if (ended) return;
    if (m?.t === 'pull') {
      const read = ahead ?? reader.read();
      ahead = null;
      read.then((result) => {
        if (ended || finish(result)) return;
        try {
          port.postMessage({ t: 'chunk', v: result.value });
        } catch (error) {
          fail(error);
          reader.cancel(error).catch(() => {});
          return;
        }
        readAhead();
      }, fail);
    } else if (m?.t === 'cancel') {
      reader.cancel(m.e).catch(() => {});
      end();
    }
  });
  // The other side went away (its thread ended) without a word: nobody reads any more.
  port.on('close', () => {
    if (ended) return;
    ended = true;
    reader.cancel(dataCloneError('The transferred stream was closed')).catch(() => {});
  });
  port.unref();
  return far;
}

function receiveReadable(port) {
  let controller;
  let pulled = null;  // resolves the pull waiting for its chunk
  let ended = false;
  const settle = () => {
    const resolve = pulled;
    pulled = null;
    port.unref();
    resolve?.();
  };
  const end = () => {
    ended = true;
    settle();
    port.close();
  };
  port.on('message', (m) => {
    if (ended) return;
    if (m?.t === 'chunk') {
      controller.enqueue(m.v);
      settle();
    } else if (m?.t === 'close') {
      controller.close();
      end();
    } else if (m?.t === 'error') {
      controller.error(m.e);
      end();
    }
  });
  port.on('close', () => {
    if (ended) return;
    controller.error(dataCloneError('The transferred stream was closed'));
    end();
  });
  port.unref();
  return new ReadableStream({
    start(c) {
      controller = c;
    },
    pull() {
      if (ended) return undefined;
      port.ref();  // until the chunk (or the end) comes
      port.postMessage({ t: 'pull' });
      return new Promise((resolve) => {
        pulled = resolve;
      });
    },
    cancel(reason) {
      if (ended) return;
      post(port, { t: 'cancel', e: reason });
      end();
    },
  }, { highWaterMark: 0 });
}

// The side holding a writable: performs the writes, closes and aborts it is sent, in order.
function sendWritable(stream) {
  const { port1: port, port2: far } = newChannel();
  const writer = stream.getWriter();
  let ended = false;
  const end = () => {
    ended = true;
    port.close();
  };
  const answer = (promise, last) => promise.then(() => {
    if (ended) return;
    port.postMessage({ t: 'done', ok: true });
    if (last) end();
  }, (error) => {
    if (ended) return;
    post(port, { t: 'error', e: error });
    end();
  });
  port.on('message', (m) => {
    if (ended) return;
    if (m?.t === 'write') {
      answer(writer.write(m.v), false);
    } else if (m?.t === 'close') {
      answer(writer.close(), true);
    } else if (m?.t === 'abort') {
      writer.abort(m.e).catch(() => {});
      end();
    }
  });
  port.on('close', () => {
    if (ended) return;
    ended = true;
    writer.abort(dataCloneError('The transferred stream was closed')).catch(() => {});
  });
  port.unref();
  return far;
}

function receiveWritable(port) {
  let controller;
  const waiting = [];  // { resolve, reject, last } per write or close sent, in order
  let ended = false;
  let failure = null;
  const fail = (error) => {
    failure = error;
    ended = true;
    for (const w of waiting.splice(0)) w.reject(error);
    controller.error(error);
    port.close();
  };
  port.on('message', (m) => {
    if (ended) return;
    if (m?.t === 'done') {
      const w = waiting.shift();
      if (waiting.length === 0) port.unref();
      if (w?.last) {
        ended = true;
        port.close();
      }
      w?.resolve();
    } else if (m?.t === 'error') {
      fail(m.e);
    }
  });
  port.on('close', () => {
    if (!ended) fail(dataCloneError('The transferred stream was closed'));
  });
  port.unref();
  const send = (message, last) => {
    if (ended) return Promise.reject(failure);
    try {
      port.ref();  // until its acknowledgement comes
      port.postMessage(message);
    } catch (error) {
      // An uncloneable chunk errors the stream on both sides, as in Node.
      post(port, { t: 'abort', e: error });
      fail(error);
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => waiting.push({ resolve, reject, last }));
  };
  return new WritableStream({
    start(c) {
      controller = c;
    },
    write(chunk) {
      return send({ t: 'write', v: chunk }, false);
    },
    close() {
      return send({ t: 'close' }, true);
    },
    abort(reason) {
      if (ended) return undefined;
      try {
        port.postMessage({ t: 'abort', e: reason });
      } catch {
        port.postMessage({ t: 'abort', e: dataCloneError('The abort reason could not be cloned') });
      }
      ended = true;
      port.close();
      return undefined;
    },
  }, { highWaterMark: 1 });
}

module.exports = { transferOf, make };
