'use strict';
// Objects that transfer themselves, Node's way: a `fs.promises` FileHandle, and the classes
// built on Node's internal JSTransferable. Node marks them with per-isolate symbols
// (`messaging_transfer_symbol`, `messaging_transfer_list_symbol`), found here by their
// description on the object or its prototypes. In a transfer list, such an object is asked for
// its own transfer list (`[kTransferList]()`, merged into the message's) and for
// `{ data, deserializeInfo }` (`[kTransfer]()`, which detaches a FileHandle); the serializer
// writes those where the object stands in the message (src/shim/js_transferable.cc), and the
// receiving thread makes the object again with `create` below, or fails with Node's error,
// which becomes 'messageerror'.
const { native } = require('../binding');
const { isBuiltin } = require('./code-cache').Module;

const kPending = Symbol('corral.jsTransferables');
const FILE_HANDLE = 'internal/fs/promises:FileHandle';
const symbols = new Map();  // description -> symbol, once seen

function findSymbol(object, description) {
  const known = symbols.get(description);
  if (known !== undefined) return known;
  for (let o = object; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    const found = Object.getOwnPropertySymbols(o).find((s) => s.description === description);
    if (found !== undefined) {
      symbols.set(description, found);
      return found;
    }
  }
  return undefined;
}

function transferMethod(item, description) {
  if (item === null || typeof item !== 'object' || item instanceof ArrayBuffer || native.isPort(item)) return undefined;
  const symbol = findSymbol(item, description);
  const method = symbol === undefined ? undefined : item[symbol];
  return typeof method === 'function' ? method : undefined;
}

// The FileHandle class of this thread: the class of a FileHandle this thread has sent, or, in
// a corral worker, Node's own (its boot has Node's internal require).
let fileHandleClass = null;

function fileHandleClassHere(internalRequire) {
  if (fileHandleClass === null && internalRequire !== null) {
    fileHandleClass = internalRequire('internal/fs/promises').FileHandle;
  }
  return fileHandleClass;
}

function isNativeFileHandle(value) {
  return value !== null && typeof value === 'object' && typeof value.releaseFD === 'function' && 'fd' in value;
}

// A FileHandle's data holds its native handle: the fd it gives up travels instead.
function releaseHandle(item, result) {
  const handle = result?.data?.handle;
  if (result?.deserializeInfo !== FILE_HANDLE || !isNativeFileHandle(handle)) {
    return { data: result?.data, fd: -1 };
  }
  if (typeof item.constructor === 'function') fileHandleClass ??= item.constructor;
  const { handle: _, ...rest } = result.data;
  const fd = handle.fd;
  handle.releaseFD();  // the native handle no longer closes it (on GC or otherwise)
  return { data: rest, fd };
}

// Web streams transfer through corral's own channels (web-streams.js), not Node's.
let webStreams = null;
// (The tag is read first: the globals are lazy in Node, and looking one up loads web streams.)
const streamTags = new Set(['ReadableStream', 'WritableStream', 'TransformStream']);
const isWebStream = (v) => v !== null && typeof v === 'object' && streamTags.has(v[Symbol.toStringTag]) && (
  (typeof ReadableStream === 'function' && v instanceof ReadableStream) ||
  (typeof WritableStream === 'function' && v instanceof WritableStream) ||
  (typeof TransformStream === 'function' && v instanceof TransformStream));
const transfersItself = (item) => isWebStream(item) || transferMethod(item, 'messaging_transfer_symbol') !== undefined;

// The transfer list without the self-transferring objects, plus what they list; their
// transfers ride on the returned list until `arm` hands them to the serializer.
function prepare(list) {
  let pending = null;
  let out = list;
  for (const item of list) {
    const stream = isWebStream(item);
    const transfer = stream ? undefined : transferMethod(item, 'messaging_transfer_symbol');
    if (!stream && transfer === undefined) continue;
    if (pending === null) {
      pending = [];
      out = list.filter((other) => !transfersItself(other));
    }
    if (stream) {
      const sent = (webStreams ??= require('./web-streams')).transferOf(item);
      for (const port of sent.ports) out.push(port);
      pending.push(item, sent.data, sent.deserializeInfo, -1);
      continue;
    }
    const listMethod = transferMethod(item, 'messaging_transfer_list_symbol');
    const nested = listMethod === undefined ? [] : [...(listMethod.call(item) ?? [])];
    const result = transfer.call(item);
    const { data, fd } = releaseHandle(item, result);
    // A FileHandle lists its native handle, which travels only as the fd it gave up (in the
    // data it returned).
    for (const extra of nested) {
      if (!isNativeFileHandle(extra) && !out.includes(extra)) out.push(extra);
    }
    pending.push(item, data, result?.deserializeInfo, fd);
  }
  if (pending !== null) Object.defineProperty(out, kPending, { value: pending });
  return out;
}

function carry(from, to) {
  if (from[kPending] !== undefined) Object.defineProperty(to, kPending, { value: from[kPending] });
}

// Right before the native call that serializes the message.
function arm(list) {
  if (list !== undefined && list !== null && list[kPending] !== undefined) native.setJsTransferables(list[kPending]);
}

function closeQuietly(fd) {
  try {
    require('fs').closeSync(fd);
  } catch {}
}

// (deserializeInfo, data, fd) -> the object, on the receiving thread. Like Node, only its own
// deserializable classes are made; anything else is refused with the error Node gives.
// The objects made for the message being delivered now (the bridge to Node's ports passes them
// on in the transfer list; lib/worker_threads/bridge.js).
let made = [];
function takeMade(value) {
  const found = made.filter((object) => contains(value, object, new Set()));
  made = [];
  return found;
}

function contains(value, object, seen) {
  if (value === object) return true;
  if (value === null || typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  if (Array.isArray(value)) return value.some((item) => contains(item, object, seen));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).some((item) => contains(item, object, seen));
}

// Node's classes that corral clones by value (node-clones.js), loaded with the first of them.
let nodeClones = null;
const clones = () => (nodeClones ??= require('./node-clones'));

// What the serializer asks of an object of Node's that only JS can read (src/shim/clone.cc).
function describe(kind, object) {
  return clones().describe(kind, object);
}

function create(deserializeInfo, data, fd, index, internalRequire) {
  if (index === 0) made = [];
  if (String(deserializeInfo).startsWith('corral:') && clones().makes(deserializeInfo)) {
    return clones().make(deserializeInfo, data);
  }
  const object = String(deserializeInfo).startsWith('corral:') ?
    (webStreams ??= require('./web-streams')).make(deserializeInfo, data) : make(deserializeInfo, data, fd, internalRequire);
  made.push(object);
  return object;
}

function make(deserializeInfo, data, fd, internalRequire) {
  if (deserializeInfo === FILE_HANDLE && typeof fd === 'number') {
    const FileHandle = fileHandleClassHere(internalRequire);
    if (FileHandle === null) {
      closeQuietly(fd);
      throw new Error('corral: this thread cannot receive a FileHandle before it has sent one ' +
        '(the main thread has no other way to reach Node\'s FileHandle class)');
    }
    const { FileHandle: NativeFileHandle } = process.binding('fs');
    return new FileHandle(new NativeFileHandle(fd));
  }
  if (typeof fd === 'number') closeQuietly(fd);
  const [module, name] = String(deserializeInfo).split(':');
  // Node's deserializer loads the module with its internal require, which knows only Node's
  // own module ids, and makes only classes that can deserialize themselves. Node's internal
  // modules are out of corral's reach: their classes are refused.
  if (!module.startsWith('internal/') && !(isBuiltin(module) && !module.startsWith('node:'))) {
    throw new TypeError(`Missing internal module '${module}'`);
  }
  const Ctor = module.startsWith('internal/') ? undefined : require(module)[name];
  const deserialize = typeof Ctor === 'function' && Ctor.prototype !== null && typeof Ctor.prototype === 'object' ?
    findSymbol(Ctor.prototype, 'messaging_deserialize_symbol') : undefined;
  if (deserialize === undefined || typeof Ctor.prototype[deserialize] !== 'function') {
    throw new Error(`Unknown deserialize spec ${deserializeInfo}`);
  }
  const object = new Ctor();
  object[deserialize](data);
  return object;
}

// Node's error for an object that transfers itself found in a message without being in its
// transfer list, where the serializer only saw a plain object (Node 22+'s FileHandle): asked
// once serialization has failed.
function missingFromTransferList(value, list) {
  const seen = new Set();
  const visit = (v) => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return false;
    seen.add(v);
    if (transferMethod(v, 'messaging_transfer_symbol') !== undefined) return !(list ?? []).includes(v);
    const proto = Object.getPrototypeOf(v);
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) return false;
    // Data properties only: the program's getters run once, in the clone that failed, as in Node.
    return Object.values(Object.getOwnPropertyDescriptors(v)).some((d) => 'value' in d && d.enumerable && visit(d.value));
  };
  return visit(value);
}

module.exports = { prepare, carry, arm, create, describe, takeMade, missingFromTransferList };
