'use strict';
// MessagePort and MessageChannel. A port is a native object (PortBase: internal field, Rust
// endpoint, uv_async_t) and, as in Node, an EventTarget with Node's EventEmitter-style
// methods (NodeEventTarget): `on(type, fn)` listeners get the message itself,
// `addEventListener` ones a MessageEvent; adding the same listener twice registers it once; the
// port has no own enumerable fields. The native side calls `dispatch` with this = port for each
// delivered message, deserialization failure, or close.
const { native } = require('../binding');
const { makeError, invalidArgType } = require('../errors');
const { applyToTransferList } = require('./untransferable');

const kToken = Symbol('corral.port.token');
const kListeners = Symbol('corral.port.listeners');  // type -> [{ fn, nodeStyle, once }]
const kStarted = Symbol('corral.port.started');
const kHandlers = Symbol('corral.port.handlers');

const PortBase = native.PortBase;

// Listener bookkeeping of a port, kept in a symbol-keyed field (never enumerable, never cloned).
function listenersOf(port, type, create) {
  let all = port[kListeners];
  if (all === undefined) {
    if (!create) return undefined;
    all = Object.create(null);
    Object.defineProperty(port, kListeners, { value: all });
  }
  return create ? (all[type] ??= []) : all[type];
}

function callListener(port, entry, type, value, event) {
  if (entry.nodeStyle) return entry.fn.call(port, value);
  event ??= makeEvent(type, port, value);
  if (typeof entry.fn === 'function') entry.fn.call(port, event);
  else entry.fn.handleEvent(event);
  return event;
}

// Delivers one event; node-style listeners get the value (no Event is made for them).
function dispatch(type, value) {
  const entries = listenersOf(this, type, false);
  if (entries === undefined || entries.length === 0) return false;
  if (entries.length === 1) {
    const entry = entries[0];
    if (entry.once) removeEntry(this, type, entry);
    callListener(this, entry, type, value);
    return true;
  }
  let event;
  for (const entry of entries.slice()) {
    if (entry.removed) continue;
    if (entry.once) removeEntry(this, type, entry);
    event = callListener(this, entry, type, value, event);
  }
  return true;
}

function addEntry(port, type, fn, nodeStyle, once) {
  const entries = listenersOf(port, type, true);
  if (entries.some((entry) => entry.fn === fn)) return;
  entries.push({ fn, nodeStyle, once, removed: false });
  if (type === 'message') {
    native.ref(port, true);
    port.start();
  }
}

function removeEntry(port, type, entry) {
  const entries = listenersOf(port, type, false);
  const i = entries ? entries.indexOf(entry) : -1;
  if (i < 0) return;
  entries.splice(i, 1);
  entry.removed = true;
  // Removing the last 'message' listener stops delivery (messages stay queued), as in Node.
  if (type === 'message' && entries.length === 0) native.stop(port);
}

function removeListenerFn(port, type, fn) {
  const entry = listenersOf(port, type, false)?.find((e) => e.fn === fn);
  if (entry) removeEntry(port, type, entry);
}

const validListener = (fn) => typeof fn === 'function' || typeof fn?.handleEvent === 'function';

// The EventTarget and Node-style methods, as Node's NodeEventTarget has them.
class NodeEventTarget extends EventTarget {
  addEventListener(type, listener, options) {
    if (!validListener(listener)) return;
    addEntry(this, `${type}`, listener, false, !!options?.once);
  }

  removeEventListener(type, listener) {
    removeListenerFn(this, `${type}`, listener);
  }

  dispatchEvent(event) {
    dispatch.call(this, event.type, event.data);
    return true;
  }

  on(type, listener) {
    if (typeof listener !== 'function') throw invalidArgType('listener', 'Function', listener);
    addEntry(this, `${type}`, listener, true, false);
    return this;
  }

  once(type, listener) {
    if (typeof listener !== 'function') throw invalidArgType('listener', 'Function', listener);
    addEntry(this, `${type}`, listener, true, true);
    return this;
  }

  off(type, listener) {
    removeListenerFn(this, `${type}`, listener);
    return this;
  }

  emit(type, value) {
    return dispatch.call(this, `${type}`, value);
  }

  removeAllListeners(type) {
    for (const name of type === undefined ? Object.keys(this[kListeners] ?? {}) : [`${type}`]) {
      for (const entry of (listenersOf(this, name, false) ?? []).slice()) removeEntry(this, name, entry);
    }
    return this;
  }

  listenerCount(type) {
    return listenersOf(this, `${type}`, false)?.length ?? 0;
  }

  // Node's own ports list the two listeners they keep for themselves.
  eventNames() {
    const names = Object.keys(this[kListeners] ?? {}).filter((name) => this.listenerCount(name) > 0);
    return ['newListener', 'removeListener', ...names.filter((n) => n !== 'newListener' && n !== 'removeListener')];
  }

  setMaxListeners() { return this; }
  getMaxListeners() { return 10; }
}
NodeEventTarget.prototype.addListener = NodeEventTarget.prototype.on;
NodeEventTarget.prototype.removeListener = NodeEventTarget.prototype.off;
Object.setPrototypeOf(PortBase.prototype, NodeEventTarget.prototype);

class MessagePort extends PortBase {
  constructor(token) {
    if (token !== kToken) {
      throw makeError(TypeError, 'ERR_CONSTRUCT_CALL_INVALID', 'Constructor cannot be called');
    }
    super();
  }

  postMessage(value, transfer) {
    if (arguments.length === 0) {
      throw makeError(TypeError, 'ERR_MISSING_ARGS', 'Not enough arguments to MessagePort.postMessage');
    }
    native.post(this, value, normalizeTransfer(transfer));
  }

  start() {
    if (!this[kStarted]) Object.defineProperty(this, kStarted, { value: true, writable: true });
    native.start(this);
  }

  close() {
    if (!native.isAttached(this)) return;
    native.close(this);
    // The other side learns of it through its own wake-up; this side says so after the
    // current operation, as Node does.
    setImmediate(() => dispatch.call(this, 'close'));
  }

  ref() { native.ref(this, true); return this; }
  unref() { native.ref(this, false); return this; }
  hasRef() { return native.hasRef(this); }

  get onmessage() { return this[kHandlers]?.message ?? null; }
  set onmessage(fn) { setHandler(this, 'message', fn); }
  get onmessageerror() { return this[kHandlers]?.messageerror ?? null; }
  set onmessageerror(fn) { setHandler(this, 'messageerror', fn); }

  get [Symbol.toStringTag]() { return 'MessagePort'; }
}

function makeEvent(type, target, data) {
  const event = type === 'message' || type === 'messageerror' ? new MessageEvent(type, { data }) : new Event(type);
  Object.defineProperty(event, 'target', { value: target });
  Object.defineProperty(event, 'currentTarget', { value: target });
  return event;
}

function setHandler(port, type, fn) {
  if (port[kHandlers] === undefined) Object.defineProperty(port, kHandlers, { value: {} });
  const handlers = port[kHandlers];
  if (handlers[`${type}Wrapper`]) removeListenerFn(port, type, handlers[`${type}Wrapper`]);
  handlers[type] = null;
  handlers[`${type}Wrapper`] = null;
  if (typeof fn === 'function') {
    const wrapper = (event) => fn.call(port, event);
    handlers[type] = fn;
    handlers[`${type}Wrapper`] = wrapper;
    addEntry(port, type, wrapper, false, false);
  }
}

// The native side delivers with dispatch.call(port, 'message' | 'messageerror' | 'close', value).
native.setup(MessagePort, kToken, dispatch);

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
  if (list.length === 0) return list;
  return applyToTransferList(bridgeNodePorts(list));
}

// Ports of Node's own in a transfer list travel as bridged corral ports (bridge.js); the
// serializer is told which stands for which.
function bridgeNodePorts(list) {
  let aliases = null;
  const out = list.map((item) => {
    if (item === null || typeof item !== 'object' || item instanceof MessagePort) return item;
    const bridge = require('./bridge');
    if (!bridge.isNodePort(item)) return item;
    const replacement = bridge.fromNodePort(item);
    (aliases ??= []).push(item, replacement);
    return replacement;
  });
  if (aliases !== null) native.setPortAliases(aliases);
  return out;
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
    // Node's own ports (Node's machinery calls worker_threads' function with them too).
    const { builtin } = require('./line');
    if (typeof builtin.MessagePort === 'function' && port instanceof builtin.MessagePort) {
      return builtin.receiveMessageOnPort(port);
    }
    throw invalidArgType('port', ['MessagePort'], port);
  }
  return native.receive(port);
}

module.exports = { MessagePort, MessageChannel, receiveMessageOnPort, normalizeTransfer };
