'use strict';
// MessagePort and MessageChannel. A port is a native object (PortBase: internal field, Rust
// endpoint, uv_async_t) with EventEmitter behaviour; the native side calls its `emit` with
// this = port for each delivered message, deserialization failure, or close.
const EventEmitter = require('events');
const { native } = require('../binding');
const { makeError, invalidArgType } = require('../errors');
const { applyToTransferList } = require('./untransferable');

const kToken = Symbol('corral.port.token');

const PortBase = native.PortBase;
Object.setPrototypeOf(PortBase.prototype, EventEmitter.prototype);

const kStarted = Symbol('corral.port.started');
const kHandlers = Symbol('corral.port.handlers');

class MessagePort extends PortBase {
  constructor(token) {
    if (token !== kToken) {
      throw makeError(TypeError, 'ERR_CONSTRUCT_CALL_INVALID', 'Constructor cannot be called');
    }
    super();
    EventEmitter.call(this);
    this[kStarted] = false;
  }

  postMessage(value, transfer) {
    if (arguments.length === 0) {
      throw makeError(TypeError, 'ERR_MISSING_ARGS', 'Not enough arguments to MessagePort.postMessage');
    }
    native.post(this, value, normalizeTransfer(transfer));
  }

  start() {
    this[kStarted] = true;
    native.start(this);
  }

  close() {
    if (!native.isAttached(this)) return;
    native.close(this);
    // The other side learns of it through its own wake-up; this side says so after the
    // current operation, as Node does.
    setImmediate(() => this.emit('close'));
  }

  ref() { native.ref(this, true); return this; }
  unref() { native.ref(this, false); return this; }
  hasRef() { return native.hasRef(this); }

  get onmessage() { return this[kHandlers]?.message ?? null; }
  set onmessage(fn) { setHandler(this, 'message', fn); }
  get onmessageerror() { return this[kHandlers]?.messageerror ?? null; }
  set onmessageerror(fn) { setHandler(this, 'messageerror', fn); }

  addEventListener(type, listener, options) {
    if (typeof listener !== 'function' && typeof listener?.handleEvent !== 'function') return;
    const wrapped = (data) => {
      const event = makeEvent(type, this, data);
      typeof listener === 'function' ? listener.call(this, event) : listener.handleEvent(event);
    };
    wrapped.listener = listener;
    (options?.once ? this.once : this.on).call(this, type, wrapped);
  }

  removeEventListener(type, listener) {
    for (const l of this.rawListeners(type)) {
      if (l.listener === listener || l.listener?.listener === listener) {
        this.removeListener(type, l);
        return;
      }
    }
  }

  dispatchEvent(event) {
    this.emit(event.type, event.data);
    return true;
  }

  get [Symbol.toStringTag]() { return 'MessagePort'; }
}

function makeEvent(type, target, data) {
  if (type === 'message' || type === 'messageerror') {
    const event = new MessageEvent(type, { data });
    Object.defineProperty(event, 'target', { value: target });
    return event;
  }
  const event = new Event(type);
  Object.defineProperty(event, 'target', { value: target });
  return event;
}

function setHandler(port, type, fn) {
  const handlers = port[kHandlers] ??= {};
  if (handlers[`${type}Wrapper`]) port.removeListener(type, handlers[`${type}Wrapper`]);
  handlers[type] = null;
  handlers[`${type}Wrapper`] = null;
  if (typeof fn === 'function') {
    const wrapper = (data) => fn.call(port, makeEvent(type, port, data));
    handlers[type] = fn;
    handlers[`${type}Wrapper`] = wrapper;
    port.on(type, wrapper);
  }
}

// Adding a 'message' listener starts the port and keeps the event loop alive (as in Node);
// removing the last one stops delivery (messages stay queued).
for (const method of ['on', 'addListener', 'once', 'prependListener', 'prependOnceListener']) {
  const base = EventEmitter.prototype[method];
  MessagePort.prototype[method] = function (type, listener) {
    base.call(this, type, listener);
    if (type === 'message') {
      native.ref(this, true);
      this.start();
    }
    return this;
  };
}
for (const method of ['off', 'removeListener']) {
  const base = EventEmitter.prototype[method];
  MessagePort.prototype[method] = function (type, listener) {
    base.call(this, type, listener);
    if (type === 'message' && this.listenerCount('message') === 0) native.stop(this);
    return this;
  };
}
MessagePort.prototype.removeAllListeners = function (type) {
  EventEmitter.prototype.removeAllListeners.call(this, type);
  if ((type === undefined || type === 'message') && this.listenerCount('message') === 0) native.stop(this);
  return this;
};

// The native side delivers with port.emit('message' | 'messageerror' | 'close', value).
native.setup(MessagePort, kToken, EventEmitter.prototype.emit);

const isIterable = (v) => v != null && typeof v === 'object' && typeof v[Symbol.iterator] === 'function';

// postMessage(value, transferList) or postMessage(value, { transfer }), validated like Node.
function normalizeTransfer(transfer) {
  if (transfer == null) return undefined;
  let list;
  if (Array.isArray(transfer)) {
    list = transfer;
  } else if (typeof transfer !== 'object') {
    throw makeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Optional transferList argument must be an iterable');
  } else if (isIterable(transfer)) {
    list = Array.from(transfer);
  } else if (transfer.transfer == null) {
    return undefined;
  } else if (isIterable(transfer.transfer)) {
    list = Array.from(transfer.transfer);
  } else {
    throw makeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Optional options.transfer argument must be an iterable');
  }
  return list.length === 0 ? list : applyToTransferList(list);
}

class MessageChannel {
  constructor() {
    this.port1 = new MessagePort(kToken);
    this.port2 = new MessagePort(kToken);
    native.entangle(this.port1, this.port2);
  }
}

function receiveMessageOnPort(port) {
  if (!(port instanceof MessagePort)) {
    throw invalidArgType('port', ['MessagePort'], port);
  }
  return native.receive(port);
}

module.exports = { MessagePort, MessageChannel, receiveMessageOnPort, normalizeTransfer };
