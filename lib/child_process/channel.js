'use strict';
// The parent side of a child's IPC channel, on a ChildProcess: send/disconnect/connected and
// the 'message' / 'internalMessage' / 'disconnect' events, with Node's semantics. Bytes move in
// Rust (src/ipc): reads in a libuv poll callback, writes with a non-blocking sendmsg.
// The real process, held here: a program may replace globalThis.process (Node's own code keeps
// its reference too).
const process = require('process');
const EventEmitter = require('events');
const binding = require('../binding');
const dispatch = require('./dispatch');
const serialization = require('./serialization');
const handles = require('./handles');
const { socketLists } = require('./socket-list');
const { makeError, invalidArgType } = require('../errors');
const { getSystemErrorName } = require('util');

const kMaxQueued = 65536 * 2;
// Descriptors held for messages still to come; more than this were never announced.
const kMaxUnannouncedFds = 16;
const kMaxFrameMiB = 512;  // src/ipc/frame.rs MAX_FRAME
const kBadFrame = Symbol('corral.ipc.badFrame');
// Messages of one tick go out in one write, up to this many (CORRAL_IPC_BATCH).
const kBatchMax = Number(process.env.CORRAL_IPC_BATCH) || 64;
// send()'s options when none are given (never written to).
const kNoOptions = Object.freeze({ swallowErrors: false });

function errnoException(errno, syscall) {
  const code = getSystemErrorName(errno);
  const err = new Error(`${syscall} ${code}`);
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  return err;
}

function isInternal(message) {
  return message !== null && typeof message === 'object' && typeof message.cmd === 'string' &&
    message.cmd.length > 5 && message.cmd.startsWith('NODE_');
}

// Node's `child.channel` / `process.channel`: ref/unref the channel's hold on the event loop.
// In a child the hold follows the 'message'/'disconnect' listeners (refCounted) until ref() or
// unref() is called explicitly, as in Node. An EventEmitter with `fd` on its prototype, as
// Node's (what tools see of it: its keys, instanceof).
const kHoldWhileListened = Symbol('corral.channel.holdWhileListened');
class Control extends EventEmitter {
  #id;
  #fd;
  #refed = true;
  #refs = 0;
  #explicit = false;
  constructor(id, fd) {
    super();
    this.#id = id;
    this.#fd = fd;
  }
  #set(on) {
    if (on !== this.#refed) binding.ipcRef(this.#id, on);
    this.#refed = on;
  }
  ref() {
    this.#explicit = true;
    this.#set(true);
  }
  unref() {
    this.#explicit = true;
    this.#set(false);
  }
  refCounted() {
    if (++this.#refs === 1 && !this.#explicit) this.#set(true);
  }
  unrefCounted() {
    if (--this.#refs === 0 && !this.#explicit) this.#set(false);
  }
  get fd() {
    return this.#fd;
  }
  // A child's channel starts with no hold: listeners take it (refCounted).
  [kHoldWhileListened]() {
    this.#set(this.#refs > 0);
  }
}

// Sends batched for the next tick go out before the process exits (Node writes at once, so
// `send(); process.exit()` delivers there too). One 'exit' listener for every channel.
const pendingFlushes = new Set();
let exitHooked = false;
function flushAtExit(flush) {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const f of pendingFlushes) f();
    });
  }
  pendingFlushes.add(flush);
}

// A write that finds the peer gone (EPIPE, ECONNRESET) is an error for the sender only when it
// is made within the send() call, as in Node, whose send tries the write at once and reports a
// failure then. Messages batched for a later write, and those carrying a handle, are queued
// writes in Node (libuv reports their failure to a write callback that ignores it): for them
// it is no error, and the channel's end of stream follows.
function peerGone(rc) {
  return rc === -32 || rc === -104 ? 0 : rc;
}

function closeFd(fd) {
  try {
    require('fs').closeSync(fd);
  } catch {}
}

// `bellFd`: the channel's doorbell page (src/ipc/bell.rs) when both ends are corral's, or -1;
// taken over, as `fd` is.
function setupChannel(target, fd, mode, bellFd = -1) {
  dispatch.init();
  const codec = serialization[mode];
  const id = binding.ipcOpen(fd, mode === 'advanced', bellFd, target !== process);
  const write = mode === 'advanced' ? binding.ipcWriteBuf : binding.ipcWrite;
  const pendingFds = [];
  const lists = socketLists(target);
  const acks = new Map(); // token -> the native handle to close once it has gone out (or null)
  const drainCallbacks = [];
  let nextToken = 1;
  let open = true;
  // What send() returns behind a handle that is not acknowledged yet. Node's sender holds every
  // message behind such a handle until the ACK (then sends them, a handle among them starting
  // a new hold), and says true for the first held message only. corral's sends go out at once
  // (the receiver puts them in order), so this is Node's queue as it would be: one entry per
  // held send (true for a handle), null while nothing would be held.
  let heldAsNode = null;
  function holdAsNode(isHandle) {
    if (heldAsNode === null) {
      if (isHandle) heldAsNode = [];
      return true;
    }
    heldAsNode.push(isHandle);
    return heldAsNode.length === 1;
  }
  function releaseAsNode() {
    const held = heldAsNode ?? [];
    heldAsNode = null;
    for (const isHandle of held) holdAsNode(isHandle);
  }
  // The first send of a tick goes out at once (so `send(); busyWork()` delivers as Node's
  // does, and so does each message of a ping-pong); the sends behind it in the same tick are
  // deferred (queued natively, unwritten) and gather into one write at the end of the tick, or
  // every kBatchMax messages, or, should this thread stay busy after them, by the native flush
  // thread within a millisecond (src/ipc/flusher.rs). A tick ends with the nextTick queued by
  // its first send: the replies to a batch of messages read at once are one tick.
  const defer = mode === 'advanced' ? binding.ipcDeferBuf : binding.ipcDefer;
  let inTick = false;
  const endTick = () => { inTick = false; };
  let deferred = 0;  // messages deferred since the last flush
  let batchBytes = 0;  // (their size, in characters or bytes)
  // What the current batch's write gave: each send() in it with a callback queued that at once,
  // as Node's sync writes queue theirs (so a nextTick queued between two sends runs between
  // their callbacks); the batch has gone out by the time those run (its flush was queued
  // first). `unreported`: its sends with no callback, whose failure is an 'error' each (nothing
  // is queued for them: the peer gone, the usual failure, is no error for a batched send).
  let batchResult = { rc: undefined, unreported: 0 };
  let flushScheduled = false;

  // `fromSend`: called inside send(), whose callbacks must still run later, as in Node.
  function flush(fromSend = false) {
    flushScheduled = false;
    pendingFlushes.delete(flush);
    if (deferred === 0) return 0;
    const result = batchResult;
    deferred = 0;
    batchBytes = 0;
    batchResult = { rc: undefined, unreported: 0 };
    const rc = peerGone(open ? binding.ipcFlush(id) : -32);
    result.rc = rc;
    if (rc < 0 && result.unreported > 0) {
      const errors = result.unreported;
      process.nextTick(() => {
        for (let i = 0; i < errors; i++) target.emit('error', errnoException(rc, 'write'));
      });
    }
    return rc;
  }

  // A batched send's callback (queued by send() itself): its batch has gone out, unless
  // something ran this tick before the flush did; then it goes now.
  function settleSent(result, entry) {
    if (result.rc === undefined) flush();
    settle([entry], result.rc ?? 0);
  }

  function settle(callbacks, rc) {
    for (const { callback, options } of callbacks) {
      if (rc < 0) {
        if (!options.swallowErrors) {
          const ex = errnoException(rc, 'write');
          if (typeof callback === 'function') callback(ex);
          else target.emit('error', ex);
        }
      } else if (typeof callback === 'function') {
        // (Behind callbacks still waiting for a drain, a write done at once waits too: in order.)
        if (rc === 0 && drainCallbacks.length === 0) {
          callback(null);
        } else {
          drainCallbacks.push(callback);
          if (!open) settleQueuedAtClose();
        }
      }
    }
  }

  // The callbacks of writes still queued when the channel closes are called with null, in
  // order, as Node's are (its queued writes complete when the pipe closes, no error given).
  let queuedAtCloseDue = false;
  function settleQueuedAtClose() {
    if (queuedAtCloseDue || drainCallbacks.length === 0) return;
    queuedAtCloseDue = true;
    process.nextTick(() => {
      queuedAtCloseDue = false;
      for (const cb of drainCallbacks.splice(0)) cb(null);
    });
  }

  target.channel = new Control(id, fd);
  Object.defineProperty(target, '_channelId', { value: id, writable: true, configurable: true });
  // Node's deprecated alias, on the object with a channel (DEP0129; gone from Node 25).
  if (require('../node-line').major < 25) {
    const deprecate = (fn) => require('util').deprecate(fn, '_channel is deprecated. Use ChildProcess.channel instead.', 'DEP0129');
    Object.defineProperty(target, '_channel', {
      configurable: true,
      enumerable: false,
      get: deprecate(() => target.channel),
      set: deprecate((value) => { target.channel = value; }),
    });
  }
  target.connected = true;

  // As Node: a 'message' with nobody listening waits until a listener comes (an ESM child
  // attaches its listener only after its first loop turns).
  let waiting = [];
  // Node's channel handles handle-passing messages in an 'internalMessage' listener of its own
  // on each end; corral's does that natively (onMessage below), but the end has the listener
  // all the same, first in its place, so that listener counts and eventNames() are Node's.
  target.on('internalMessage', function onInternalMessage() {});
  function emitMessage(name, message, handle) {
    if (name === 'internalMessage' || target.listenerCount('message') > 0) target.emit(name, message, handle);
    else waiting.push([message, handle]);
  }
  function deliver(message, handle) {
    process.nextTick(emitMessage, isInternal(message) ? 'internalMessage' : 'message', message, handle);
  }
  target.on('newListener', () => {
    process.nextTick(() => {
      if (!target.channel || waiting.length === 0 || target.listenerCount('message') === 0) return;
      const due = waiting;
      waiting = [];
      for (const [message, handle] of due) target.emit('message', message, handle);
    });
  });

  // Messages are delivered in the order they came, including those behind a handle that takes
  // a while to rebuild (a server listens on its fd first): as in Node, where the sender holds
  // what follows a handle until this end has acknowledged it.
  const inOrder = [];  // { message, handle, ready } not yet delivered, oldest first
  function deliverInOrder() {
    while (inOrder.length > 0 && inOrder[0].ready) {
      const { message, handle, dropped } = inOrder.shift();
      if (!dropped) deliver(message, handle);
    }
  }

  function onMessage(message) {
    if (!isInternal(message) || message.cmd !== 'NODE_HANDLE') {
      if (isInternal(message) && lists.internal(message)) return;
      if (inOrder.length === 0) deliver(message, undefined);
      else inOrder.push({ message, handle: undefined, ready: true });
      return;
    }
    const fd = pendingFds.shift();
    if (fd === undefined) {
      target._send({ cmd: 'NODE_HANDLE_NACK' }, null, { swallowErrors: true });
      return;
    }
    target._send({ cmd: 'NODE_HANDLE_ACK' }, null, { swallowErrors: true });
    const slot = { message: message.msg, handle: undefined, ready: false };
    inOrder.push(slot);
    const fail = (error) => {
      slot.ready = true;
      slot.dropped = true;
      deliverInOrder();
      badFrame(error);
    };
    try {
      handles.receive(message, fd, (handle) => {
        if (message.type === 'net.Socket') lists.received(handle, message.key);
        slot.handle = handle;
        slot.ready = true;
        deliverInOrder();
      }, fail);
    } catch (error) {
      fail(error);
    }
  }

  // A frame this end cannot decode (a child writing bytes of its own into the channel): unlike
  // Node, which throws into the event loop, the one channel is closed (the peer sees
  // 'disconnect'), the descriptors that came with it are closed, and the error is reported on
  // the target ('error' if someone listens, a warning otherwise). What arrived before it is
  // delivered first.
  function badFrame(cause) {
    for (const fd of pendingFds.splice(0)) closeFd(fd);
    const who = target === process ? 'the parent' : `process ${target.pid}`;
    const err = makeError(Error, 'ERR_CORRAL_IPC_BAD_FRAME',
      `The IPC channel of ${who} carried a frame that cannot be decoded (serialization '${mode}'): ${cause?.message ?? cause}`);
    err.pid = target === process ? process.ppid : target.pid;
    err.serialization = mode;
    err.cause = cause;
    process.nextTick(() => {
      if (target.connected) target.disconnect();
      if (target.listenerCount('error') > 0) target.emit('error', err);
      else process.emitWarning(err);
    });
  }

  // Others that read this channel's messages (cluster's internal ones) report theirs here.
  Object.defineProperty(target, kBadFrame, { value: badFrame, configurable: true });

  function closeNative() {
    if (!open) return;
    if (deferred) flush();
    open = false;
    dispatch.unregister(id);
    binding.ipcClose(id);
    for (const fd of pendingFds.splice(0)) closeFd(fd);
    for (const detached of acks.values()) handles.afterSend(detached);
    acks.clear();
    settleQueuedAtClose();
  }

  dispatch.register(id, {
    onNative(kind, a, b, c) {
      if (kind === dispatch.EV.MESSAGE) {
        if (!open || !target.channel) {
          // Disconnected: drop, as Node does (and close what came with it).
          for (const fd of b) closeFd(fd);
          return;
        }
        if (b.length) pendingFds.push(...b);
        // (advanced: the values Rust had the shim decode, and the bytes JS must read, if any)
        const messages = Array.isArray(a) ? codec.decodeRead(a, c) : codec.decode(a);
        for (const message of messages) onMessage(message);
        if (messages.error !== undefined) {
          badFrame(messages.error);
        } else if (pendingFds.length > kMaxUnannouncedFds) {
          badFrame(new Error(`${pendingFds.length} descriptors arrived that no message announced`));
        }
      } else if (kind === dispatch.EV.ACK) {
        const sent = acks.get(a);
        acks.delete(a);
        handles.afterSend(sent);
        releaseAsNode();
      } else if (kind === dispatch.EV.BAD_FRAME) {
        badFrame(new Error(`a message of ${a} bytes is beyond the ${kMaxFrameMiB} MiB bound`));
      } else if (kind === dispatch.EV.DRAIN) {
        for (const cb of drainCallbacks.splice(0)) cb(null);
      } else if (kind === dispatch.EV.CLOSE) {
        // End of stream from the child.
        closeNative();
        if (target.connected) target.disconnect();
        target._channelClosed?.();
      }
    },
  });

  target.send = function (message, handle, options, callback) {
    if (typeof handle === 'function') {
      callback = handle;
      handle = undefined;
      options = undefined;
    } else if (typeof options === 'function') {
      callback = options;
      options = undefined;
    } else if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'object', options);
    }
    options = options === undefined ? kNoOptions : { swallowErrors: false, ...options };
    if (this.connected) return this._send(message, handle, options, callback);
    const ex = makeError(Error, 'ERR_IPC_CHANNEL_CLOSED', 'Channel closed');
    if (typeof callback === 'function') process.nextTick(callback, ex);
    else process.nextTick(() => this.emit('error', ex));
    return false;
  };

  target._send = function (message, handle, options, callback) {
    if (message === undefined) {
      throw makeError(TypeError, 'ERR_MISSING_ARGS', 'The "message" argument must be specified');
    }
    const t = typeof message;
    if (t !== 'string' && t !== 'object' && t !== 'number' && t !== 'boolean') {
      throw invalidArgType('message', ['string', 'object', 'number', 'boolean'], message);
    }
    if (typeof options === 'boolean') options = { swallowErrors: options };
    // (An acknowledgement is never held, in Node either.)
    const ack = isInternal(message) && (message.cmd === 'NODE_HANDLE_ACK' || message.cmd === 'NODE_HANDLE_NACK');
    const heldBefore = heldAsNode !== null && !ack;
    let fd = -1;
    let token = 0;
    let type;
    if (handle) {
      type = handles.typeOf(handle);
      fd = handles.fdOf(type, handle);
      if (fd >= 0) {
        const envelope = { cmd: 'NODE_HANDLE', type, msg: message };
        if (type === 'dgram.Socket') envelope.dgramType = handle.type;
        if (type === 'net.Socket') lists.sending(handle, envelope, options.keepOpen);
        message = envelope;
        token = nextToken++;
        acks.set(token, handles.beforeSend(type, handle, options));
      }
    }
    const firstHeld = ack ? true : holdAsNode(fd >= 0);
    if (fd < 0) {
      const encoded = codec.encode(message);
      if (deferred === 0 && !inTick) {
        // The first send of the tick: written now (a failure is this send's error).
        inTick = true;
        process.nextTick(endTick);
        const rc = open ? write(id, encoded, -1, 0) : -32;
        if (typeof callback === 'function' || (rc < 0 && !options.swallowErrors)) {
          process.nextTick(settle, [{ callback, options }], rc);
        }
        // (0: all of it written; nothing is queued then)
        return heldBefore ? firstHeld : rc === 0 || binding.ipcQueued(id) < kMaxQueued;
      }
      const result = batchResult;
      // (A channel found dead here fails at the flush, quietly, as a batched write.)
      const queued = open ? defer(id, encoded) : -32;
      deferred++;
      batchBytes += encoded.length;
      if (deferred >= kBatchMax || batchBytes >= kMaxQueued / 2) {
        // A long run of sends in one tick, or a large one (let the peer start on these
        // meanwhile; and send() says false once the peer falls behind, as Node's, whose
        // writes go out at once).
        flush(true);
      } else if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flush);
        flushAtExit(flush);
      }
      if (typeof callback === 'function') process.nextTick(settleSent, result, { callback, options });
      else if (!options.swallowErrors) result.unreported++;
      return heldBefore ? firstHeld : queued < kMaxQueued;
    }
    flush(true);
    const rc = peerGone(open ? write(id, codec.encode(message), fd, token) : -32);
    if (rc < 0) {
      if (token) acks.delete(token);
      if (!heldBefore) heldAsNode = null;  // (Node holds nothing behind a handle that failed)
      if (!options.swallowErrors) {
        const ex = errnoException(rc, 'write');
        if (typeof callback === 'function') process.nextTick(callback, ex);
        else process.nextTick(() => this.emit('error', ex));
      }
      return false;
    }
    if (typeof callback === 'function') process.nextTick(settle, [{ callback, options }], rc);
    return heldBefore ? firstHeld : rc === 0 || binding.ipcQueued(id) < kMaxQueued;
  };

  target.disconnect = function () {
    if (!this.connected) {
      this.emit('error', makeError(Error, 'ERR_IPC_DISCONNECTED', 'IPC channel is already disconnected'));
      return;
    }
    this.connected = false;
    this._disconnect();
  };

  target._disconnect = function () {
    flush(true);
    this.channel = null;
    process.nextTick(() => {
      closeNative();
      target.emit('disconnect');
    });
  };
}

// The child's end (see child-preload.js): `process.send`, `process.channel`, 'message', ... on
// `process`, with the channel holding the loop only while someone listens, as Node's does.
function setupChildChannel(fd, mode, bellFd = -1) {
  setupChannel(process, fd, mode, bellFd);
  const control = process.channel;
  control[kHoldWhileListened]();
  process.on('newListener', (name) => {
    if (name === 'message' || name === 'disconnect') control.refCounted();
  });
  process.on('removeListener', (name) => {
    if (name === 'message' || name === 'disconnect') control.unrefCounted();
  });
}

module.exports = { setupChannel, setupChildChannel, errnoException, kBadFrame };
