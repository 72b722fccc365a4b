'use strict';
// MessagePort and MessageChannel. MessagePort is the native constructor (an object with an
// internal field, a Rust endpoint and a uv_async_t; only corral makes ports, as only Node makes
// its own) and, as in Node, an EventTarget with Node's EventEmitter-style methods
// (NodeEventTarget): `on(type, fn)` listeners get the message itself, `addEventListener` ones a
// MessageEvent; adding the same listener twice registers it once; the port has no own enumerable
// fields. The native side calls `dispatch` with this = port for each delivered message,
// deserialization failure, or (once its handle has closed) 'close'.
const { inspect } = require('util');
const { native } = require('../binding');
const { makeError, invalidArgType } = require('../errors');
const { handlerValue, checkEventTarget } = require('./event-handler');
const { applyToTransferList } = require('./untransferable');

const kToken = Symbol('corral.port.token');
const kListeners = Symbol('corral.port.listeners');  // Map: type -> [{ fn, nodeStyle, once }]
const kHandlers = Symbol('corral.port.handlers');

const MessagePort = native.MessagePort;

// Listener bookkeeping of a port, kept in a symbol-keyed field (never enumerable, never cloned).
// (A Map: with the event type as a key of a plain object, every delivery was a megamorphic
// keyed load.)
function listenersOf(port, type, create) {
  let all = port[kListeners];
  if (all === undefined) {
    if (!create) return undefined;
    all = new Map();
    Object.defineProperty(port, kListeners, { value: all });
  }
  let entries = all.get(type);
  if (entries === undefined && create) all.set(type, entries = []);
  return entries;
}

// The event EventTarget-style listeners get, as Node makes it: a MessageEvent (with the ports
// that came with the message) for 'message' and 'messageerror', else a CustomEvent whose
// `detail` is the emitted value.
function makeEvent(type, target, value, ports) {
  let event;
  if (type === 'message' || type === 'messageerror') {
    event = new MessageEvent(type, { data: value });
    if (ports !== undefined) Object.defineProperty(event, 'ports', { value: ports });
  } else {
    event = new CustomEvent(type, { detail: value });
  }
  return setTarget(event, target);
}

// Node keeps an Event's target and whether it is being dispatched in symbol-keyed fields, which
// its getters read (target, currentTarget, srcElement, eventPhase, composedPath()). corral's
// ports set those fields, found by name on an Event of this line, so that their events read as
// Node's do (currentTarget and eventPhase only while listeners run). Without them: own values.
const eventFields = (() => {
  const symbols = Object.getOwnPropertySymbols(new Event('message'));
  const target = symbols.find((symbol) => symbol.description === 'kTarget');
  const dispatching = symbols.find((symbol) => symbol.description === 'kIsBeingDispatched');
  return target !== undefined && dispatching !== undefined ? { target, dispatching } : null;
})();

function setTarget(event, target) {
  if (eventFields !== null) {
    event[eventFields.target] = target;
    return event;
  }
  Object.defineProperty(event, 'target', { value: target, configurable: true });
  Object.defineProperty(event, 'currentTarget', { value: target, configurable: true });
  return event;
}

function callListener(port, entry, arg) {
  if (entry.nodeStyle) {
    entry.fn.call(port, arg);
    return;
  }
  if (eventFields !== null) arg[eventFields.dispatching] = true;
  try {
    if (typeof entry.fn === 'function') entry.fn.call(port, arg);
    else entry.fn.handleEvent(arg);
  } finally {
    if (eventFields !== null) arg[eventFields.dispatching] = false;
  }
}

// Delivers one event: node-style listeners get `value` (no Event is made for them), the others
// `event`, made on first need. Returns whether there were listeners.
function deliver(port, type, value, event, ports) {
  const entries = listenersOf(port, type, false);
  if (entries === undefined || entries.length === 0) return false;
  if (entries.length === 1) {
    const entry = entries[0];
    if (entry.once) removeEntry(port, type, entry);
    callListener(port, entry, entry.nodeStyle ? value : (event ?? makeEvent(type, port, value, ports)));
    return true;
  }
  // (Indexed, here and on the other paths a program's messages and output take: a program may
  // have replaced Array.prototype[Symbol.iterator], which Node's own code never calls.)
  const listeners = entries.slice();
  for (let i = 0; i < listeners.length; i++) {
    const entry = listeners[i];
    if (entry.removed) continue;
    if (entry.once) removeEntry(port, type, entry);
    if (!entry.nodeStyle) event ??= makeEvent(type, port, value, ports);
    callListener(port, entry, entry.nodeStyle ? value : event);
  }
  return true;
}

// From the native side: a message (with the ports it carried, if any), a deserialization error,
// or 'close', which every listener gets as an Event, as from Node's ports.
// Open ports with 'close' listeners: held here so that they live to say it (the native side
// holds a port only while it receives or is ref'd; one that only waits for its peer's close
// could otherwise be collected first, and the listener never called).
const awaitingClose = new Set();

function dispatch(type, value, ports) {
  if (type === 'close') {
    awaitingClose.delete(this);
    const event = setTarget(new Event('close'), this);
    deliver(this, type, event, event);
    return;
  }
  deliver(this, type, value, undefined, ports);
}

// How many listeners of `type` Node would count: an `on<type>` handler set to something that is
// not a function stays registered but is not counted (see setHandler).
function sizeOf(port, type, entries) {
  return entries.length + (port[kHandlers]?.[`${type}Uncounted`] ? -1 : 0);
}

// The first counted 'message' listener refs and starts the port, as in Node; the last one to go
// stops and unrefs it.
function listenerCountChanged(port, type, size, added) {
  if (type !== 'message') return;
  if (added && size === 1) {
    native.ref(port, true);
    native.start(port);
  } else if (!added && size === 0) {
    native.stop(port);
    native.ref(port, false);
  }
}

function addEntry(port, type, fn, nodeStyle, once) {
  const entries = listenersOf(port, type, true);
  if (entries.some((entry) => entry.fn === fn)) return;
  entries.push({ fn, nodeStyle, once, removed: false });
  if (type === 'close' && native.isAttached(port)) awaitingClose.add(port);
  listenerCountChanged(port, type, sizeOf(port, type, entries), true);
}

// `keepState`: as Node's removeAllListeners, which drops listeners without its remove hooks (a
// port whose 'message' listeners go that way stays ref'd and delivering).
function removeEntry(port, type, entry, keepState = false) {
  const entries = listenersOf(port, type, false);
  const i = entries ? entries.indexOf(entry) : -1;
  if (i < 0) return;
  entries.splice(i, 1);
  entry.removed = true;
  // An uncounted handler that goes was not counted.
  const handlers = port[kHandlers];
  if (handlers !== undefined && entry.fn === handlers[`${type}Wrapper`]) handlers[`${type}Uncounted`] = false;
  if (type === 'close' && entries.length === 0) awaitingClose.delete(port);
  // Removing the last 'message' listener stops delivery (messages stay queued) and unrefs the
  // port, as in Node.
  if (!keepState) listenerCountChanged(port, type, sizeOf(port, type, entries), false);
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
    const signal = options?.signal;
    if (signal?.aborted) return;
    type = `${type}`;
    addEntry(this, type, listener, false, !!options?.once);
    signal?.addEventListener('abort', () => this.removeEventListener(type, listener), { once: true });
  }

  removeEventListener(type, listener) {
    removeListenerFn(this, `${type}`, listener);
  }

  dispatchEvent(event) {
    if (!(event instanceof Event)) throw invalidArgType('event', 'Event', event);
    setTarget(event, this);
    deliver(this, event.type, event, event);
    return !event.defaultPrevented;
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
    if (typeof type !== 'string') throw invalidArgType('type', 'string', type);
    return deliver(this, type, value);
  }

  removeAllListeners(type) {
    for (const name of type === undefined ? [...(this[kListeners]?.keys() ?? [])] : [`${type}`]) {
      for (const entry of (listenersOf(this, name, false) ?? []).slice()) removeEntry(this, name, entry, true);
    }
    return this;
  }

  listenerCount(type) {
    return listenersOf(this, `${type}`, false)?.length ?? 0;
  }

  // Node's own ports list the two listeners they keep for themselves.
  eventNames() {
    const names = [...(this[kListeners]?.keys() ?? [])].filter((name) => this.listenerCount(name) > 0);
    return ['newListener', 'removeListener', ...names.filter((n) => n !== 'newListener' && n !== 'removeListener')];
  }

  setMaxListeners() { return this; }
  getMaxListeners() { return 10; }
}
NodeEventTarget.prototype.addListener = NodeEventTarget.prototype.on;
NodeEventTarget.prototype.removeListener = NodeEventTarget.prototype.off;
Object.setPrototypeOf(MessagePort, NodeEventTarget);
Object.setPrototypeOf(MessagePort.prototype, NodeEventTarget.prototype);

// MessagePort's own methods, as Node's (enumerable, as there).
const portMethods = {
  postMessage(value, transfer) {
    if (arguments.length === 0) {
      throw makeError(TypeError, 'ERR_MISSING_ARGS', 'Not enough arguments to MessagePort.postMessage');
    }
    const list = normalizeTransfer(transfer);
    armJsTransferables(list);
    let result;
    try {
      result = native.post(this, value, list);
    } catch (error) {
      throw nodeCloneError(error, value, list);
    }
    if (result === 'lost') {
      process.emitWarning('The target port was posted to itself, and the communication channel was lost');
      return true;
    }
    // As Node's: true once posted, false when the other side is gone, undefined from a closed port.
    return result;
  },

  start() {
    native.start(this);
  },

  close(callback) {
    if (typeof callback === 'function') this.once('close', callback);
    // Detached at once; 'close' follows on both ends once their handles have closed.
    native.close(this);
  },

  ref() { native.ref(this, true); },
  unref() { native.ref(this, false); },
  hasRef() { return !!native.hasRef(this); },

  get onmessage() { return getHandler(this, 'message'); },
  set onmessage(fn) { setHandler(this, 'message', fn); },
  get onmessageerror() { return getHandler(this, 'messageerror'); },
  set onmessageerror(fn) { setHandler(this, 'messageerror', fn); },
};
Object.defineProperties(MessagePort.prototype, Object.getOwnPropertyDescriptors(portMethods));

// As Node shows a port: whether it is still open and, if so, ref'd.
Object.defineProperty(MessagePort.prototype, inspect.custom, {
  value: function inspectPort() {
    if (!native.isPort(this)) return this;
    const ref = native.hasRef(this);
    return Object.assign({ __proto__: MessagePort.prototype },
      ref === undefined ? { active: false } : { active: true, refed: ref }, this);
  },
});

// `on<type> = value`, as Node's event handler attributes: the first assignment registers one
// listener that calls whatever the attribute holds when it is a function; later ones only
// change what it holds, so the handler keeps its place among the listeners. The getter gives
// back the value as set. A handler changed to something that is not a function stops being
// counted as a listener (a port with no other 'message' listener is stopped and unref'd), and
// counts again once it is a function.
function setHandler(port, type, value) {
  checkEventTarget(port, () => invalidArgType('this', 'EventTarget', port));
  if (port[kHandlers] === undefined) Object.defineProperty(port, kHandlers, { value: {} });
  const handlers = port[kHandlers];
  value = handlerValue(value);
  const wrapper = handlers[`${type}Wrapper`];
  const registered = wrapper !== undefined && (listenersOf(port, type, false) ?? []).some((e) => e.fn === wrapper);
  if (!registered) {
    handlers[type] = value;
    handlers[`${type}Uncounted`] = false;
    const call = function eventHandler(event) {
      const fn = handlers[type];
      if (typeof fn === 'function') fn.call(port, event);
    };
    handlers[`${type}Wrapper`] = call;
    addEntry(port, type, call, false, false);
    return;
  }
  const was = typeof handlers[type] === 'function';
  const is = typeof value === 'function';
  handlers[type] = value;
  if (was === is) return;
  handlers[`${type}Uncounted`] = !is;
  listenerCountChanged(port, type, sizeOf(port, type, listenersOf(port, type, false)), is);
}

function getHandler(port, type) {
  checkEventTarget(port, () => invalidArgType('this', 'EventTarget', port));
  return port[kHandlers]?.[type] ?? null;
}

// The native side delivers with dispatch.call(port, 'message' | 'messageerror' | 'close', value[, ports]).
native.setup(MessagePort, kToken, dispatch);
// As Node's ports (handles of Node's): ref'd ones in process._getActiveHandles() and
// getActiveResourcesInfo() (src/shim/active_handles.cc).
native.listPortsAsHandles(process);

const isObject = (v) => v !== null && (typeof v === 'object' || typeof v === 'function');

// The values of an iterable, read as Node reads a transfer list; undefined if it is not one.
function readIterable(value) {
  if (!isObject(value)) return undefined;
  if (Array.isArray(value)) return value;
  const method = value[Symbol.iterator];
  if (typeof method !== 'function') return undefined;
  const iterator = method.call(value);
  if (!isObject(iterator)) return undefined;
  const next = iterator.next;
  if (typeof next !== 'function') return undefined;
  const list = [];
  for (;;) {
    const result = next.call(iterator);
    if (!isObject(result)) return undefined;
    if (result.done) return list;
    list.push(result.value);
  }
}

// postMessage(value, transferList) or postMessage(value, { transfer }), validated like Node.
// Objects that transferred themselves ride on the list (js-transferable.js) until the native
// call that serializes the message.
let jsTransferable = null;  // loaded with the first non-empty transfer list, or message that needs it
let internalRequire = null;  // Node's, in a corral worker (boot.js)
function setInternalRequire(fn) { internalRequire = fn; }
native.setJsTransferableFactory((deserializeInfo, data, fd, index) => {
  jsTransferable ??= require('./js-transferable');
  return jsTransferable.create(deserializeInfo, data, fd, index, internalRequire);
});
native.setNodeObjectDescriber((kind, object) => {
  jsTransferable ??= require('./js-transferable');
  return jsTransferable.describe(kind, object);
});
// On lines where a FileHandle is a plain object to V8 (22+), a FileHandle left out of the
// transfer list fails as some property that cannot be cloned: Node names the real cause.
function nodeCloneError(error, value, list) {
  if (error?.name !== 'DataCloneError' || value === null || typeof value !== 'object') return error;
  jsTransferable ??= require('./js-transferable');
  if (!jsTransferable.missingFromTransferList(value, list)) return error;
  return new DOMException('Object that needs transfer was found in message but not listed in transferList',
    'DataCloneError');
}

// The FileHandles and the like made for the message being delivered that are in `data`.
function takeMadeJsTransferables(data) {
  return jsTransferable === null ? [] : jsTransferable.takeMade(data);
}

function armJsTransferables(list) {
  if (jsTransferable !== null && list !== undefined) jsTransferable.arm(list);
}

function normalizeTransfer(transfer) {
  if (transfer == null) return undefined;
  // The common list, ArrayBuffers only: none transfers itself or stands for a port of Node's.
  if (Array.isArray(transfer) && onlyArrayBuffers(transfer)) return applyToTransferList(transfer);
  if (!isObject(transfer)) {
    throw makeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Optional transferList argument must be an iterable');
  }
  let list = readIterable(transfer);
  if (list === undefined) {
    const option = transfer.transfer;
    if (option === undefined) return undefined;
    list = readIterable(option);
    if (list === undefined) {
      throw makeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Optional options.transfer argument must be an iterable');
    }
  }
  if (list.length === 0) return list;
  jsTransferable ??= require('./js-transferable');
  const prepared = jsTransferable.prepare(list);
  const out = applyToTransferList(bridgeNodePorts(prepared));
  if (out !== prepared) jsTransferable.carry(prepared, out);
  return out;
}

function onlyArrayBuffers(list) {
  for (let i = 0; i < list.length; i++) {
    if (!(list[i] instanceof ArrayBuffer)) return false;
  }
  return true;
}

// structuredClone(value, { transfer }) through corral's serializer (corral/register's global, and
// anything else that clones with corral's ports): the list is checked as postMessage checks it
// (Node's untransferable marks: a Buffer pool is never moved).
function cloneValue(value, transfer) {
  const list = normalizeTransfer(transfer);
  armJsTransferables(list);
  return native.clone(value, list ?? []);
}

// Ports of Node's own in a transfer list travel as bridged corral ports (bridge.js); the
// serializer is told which stands for which.
// (The list itself comes back when it holds none: the common case allocates nothing.)
let bridge = null;
function bridgeNodePorts(list) {
  let aliases = null;
  let out = list;
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (item === null || typeof item !== 'object' || item instanceof MessagePort || item instanceof ArrayBuffer) continue;
    bridge ??= require('./bridge');
    if (!bridge.isNodePort(item)) continue;
    const replacement = bridge.fromNodePort(item);
    (aliases ??= []).push(item, replacement);
    if (out === list) out = list.slice();
    out[i] = replacement;
  }
  if (aliases !== null) native.setPortAliases(aliases);
  return out;
}

// A function, not a class, as Node's: calling it without `new` is Node's coded error.
function MessageChannel() {
  if (new.target === undefined) {
    throw makeError(TypeError, 'ERR_CONSTRUCT_CALL_REQUIRED', 'Cannot call constructor without `new`');
  }
  this.port1 = new MessagePort(kToken);
  this.port2 = new MessagePort(kToken);
  native.entangle(this.port1, this.port2, true);
}

// A channel of corral's own machinery (a worker's control channel, which stands for Node's
// worker handle): its ports are not async resources of the program.
function internalChannel() {
  const port1 = new MessagePort(kToken);
  const port2 = new MessagePort(kToken);
  native.entangle(port1, port2, false);
  return { port1, port2 };
}

const notAPort = () => makeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'The "port" argument must be a MessagePort instance');

function receiveMessageOnPort(port) {
  if (!native.isPort(port)) {
    // A BroadcastChannel reads from its own port, as in Node.
    const handle = require('./broadcast').portOf(port);
    if (handle !== undefined) return native.receive(handle);
    // Node's own ports (Node's machinery calls worker_threads' function with them too).
    const line = require('./line');
    const NodePort = line.nodeMessagePort();
    if (NodePort !== undefined && port instanceof NodePort) {
      return line.builtin.receiveMessageOnPort(port);
    }
    throw notAPort();
  }
  return native.receive(port);
}

// moveMessagePortToContext(port, context): a port of Node's own in that vm context, carrying
// `port`'s channel through a bridge (corral's ports belong to their thread's main context).
// `port` itself is moved away, as in Node: it is closed here.
function moveMessagePortToContext(port, context) {
  const { builtin } = require('./line');
  if (!native.isPort(port)) {
    const NodePort = require('./line').nodeMessagePort();
    if (NodePort !== undefined && port instanceof NodePort) {
      return builtin.moveMessagePortToContext(port, context);
    }
    throw notAPort();
  }
  if (!native.isAttached(port)) {
    throw makeError(Error, 'ERR_CLOSED_MESSAGE_PORT', 'Cannot send data on closed MessagePort');
  }
  if (!require('vm').isContext(context)) {
    throw makeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Invalid context argument');
  }
  // The channel moves to a corral port no one else holds, which the bridge then serves.
  const carrier = internalChannel();
  carrier.port1.postMessage(port, [port]);
  const moved = native.receive(carrier.port2).message;
  carrier.port1.close();
  return builtin.moveMessagePortToContext(require('./bridge').toNodePort(moved), context);
}

module.exports = {
  MessagePort, MessageChannel, receiveMessageOnPort, moveMessagePortToContext, normalizeTransfer, armJsTransferables,
  takeMadeJsTransferables, setInternalRequire, internalChannel, cloneValue,
};
