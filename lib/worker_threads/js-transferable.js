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
const { makeError } = require('../errors');

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

// A DOMException, cloned (not transferred) as Node clones it (src/shim/clone.cc).
const DOM_EXCEPTION = 'corral:DOMException';

// A crypto KeyObject, sent as its exported key, and a net.SocketAddress, sent as its fields
// (src/shim/clone.cc).
const KEY_OBJECT = 'corral:KeyObject';
const SOCKET_ADDRESS = 'corral:SocketAddress';

function makeKeyObject({ type, key }) {
  const crypto = require('crypto');
  const buffer = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (type === 'secret') return crypto.createSecretKey(buffer);
  if (type === 'public') return crypto.createPublicKey({ key: buffer, format: 'der', type: 'spki' });
  return crypto.createPrivateKey({ key: buffer, format: 'der', type: 'pkcs8' });
}

// A webcrypto CryptoKey (Node 22+, where KeyObject.toCryptoKey can make it again): its
// KeyObject's exported key, its algorithm, extractability and usages. Undefined: refused.
const CRYPTO_KEY = 'corral:CryptoKey';

function exportKey(keyObject) {
  if (keyObject.type === 'secret') return keyObject.export();
  return keyObject.export({ type: keyObject.type === 'public' ? 'spki' : 'pkcs8', format: 'der' });
}

// A Blob or File: its bytes (read at once, as they are when in memory; a Blob read from a file
// answers later, and is refused, as Node refuses it), type, and (24+) a File's name and lastModified. Undefined:
// refused.
const BLOB = 'corral:Blob';
// A crypto.X509Certificate, sent as its DER bytes (src/shim/clone.cc).
const X509_CERTIFICATE = 'corral:X509Certificate';
// A net.BlockList, sent as its rules ('Address: IPv4 1.2.3.4', 'Range: IPv6 ::1-::9',
// 'Subnet: IPv4 10.0.0.0/8'). `rules` lists the newest first (within each kind, from Node 24):
// added again oldest first, they list as they did.
const BLOCK_LIST = 'corral:BlockList';

function makeBlockList({ rules }) {
  const list = new (require('net').BlockList)();
  for (const rule of [...rules].reverse()) {
    const match = /^(Address|Range|Subnet): (IPv4|IPv6) (.+)$/.exec(rule);
    if (match === null) continue;
    const [, kind, family, text] = match;
    const type = family.toLowerCase();
    if (kind === 'Address') {
      list.addAddress(text, type);
    } else if (kind === 'Range') {
      const [start, end] = text.split('-');
      list.addRange(start, end, type);
    } else {
      const slash = text.lastIndexOf('/');
      list.addSubnet(text.slice(0, slash), Number(text.slice(slash + 1)), type);
    }
  }
  return list;
}

function describeBlob(blob) {
  const handle = blob[findOwnSymbol(blob, 'kHandle')];
  if (handle === null || typeof handle !== 'object' || typeof handle.getReader !== 'function') return undefined;
  const reader = handle.getReader();
  const chunks = [];
  for (;;) {
    let status;
    reader.pull((code, buffer) => {
      status = code;
      if (buffer !== undefined) chunks.push(new Uint8Array(buffer));
    });
    // (Node refuses a Blob read from a file, fs.openAsBlob's, with this error.)
    if (status === undefined) throw makeError(TypeError, 'ERR_INVALID_STATE', 'Invalid state: File-backed Blobs are not cloneable');
    if (status < 0) return undefined;
    if (status === 0) break;  // the end
  }
  const bytes = Buffer.concat(chunks);
  const data = { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), type: blob.type };
  if (fileClonesAsFile() && blob instanceof require('buffer').File) {
    Object.assign(data, { name: blob.name, lastModified: blob.lastModified });
  }
  return data;
}

// A File arrives as a File where Node's File has a clone method of its own (24+); before, it
// clones as the Blob it extends.
let filesAsFiles = null;
function fileClonesAsFile() {
  filesAsFiles ??= findOwnSymbol(require('buffer').File.prototype, 'messaging_clone_symbol') !== undefined;
  return filesAsFiles;
}

function makeBlob({ bytes, type, name, lastModified }) {
  const { Blob, File } = require('buffer');
  return name === undefined ? new Blob([bytes], { type }) : new File([bytes], name, { type, lastModified });
}

// (The symbol is the object's own, not its prototype's: looked for each time.)
function findOwnSymbol(object, description) {
  return Object.getOwnPropertySymbols(object).find((s) => s.description === description);
}

function describe(kind, object) {
  if (kind === 'Blob') return describeBlob(object);
  if (kind !== 'CryptoKey') return undefined;
  const { KeyObject } = require('crypto');
  if (typeof KeyObject.prototype.toCryptoKey !== 'function') return undefined;
  // Node 26 warns when a program passes a non-extractable CryptoKey to KeyObject.from (DEP0204);
  // this is corral's clone, not the program's call, so the warning is held back meanwhile.
  const quiet = process.noDeprecation;
  let keyObject;
  try {
    process.noDeprecation = true;
    keyObject = KeyObject.from(object);
  } catch {
    return undefined;
  } finally {
    process.noDeprecation = quiet;
  }
  return {
    type: keyObject.type,
    key: exportKey(keyObject),
    algorithm: object.algorithm,
    extractable: object.extractable,
    usages: object.usages,
  };
}

function create(deserializeInfo, data, fd, index, internalRequire) {
  if (index === 0) made = [];
  if (deserializeInfo === DOM_EXCEPTION) return makeDomException(data);
  if (deserializeInfo === KEY_OBJECT) return makeKeyObject(data);
  if (deserializeInfo === CRYPTO_KEY) return makeKeyObject(data).toCryptoKey(data.algorithm, data.extractable, data.usages);
  if (deserializeInfo === SOCKET_ADDRESS) return new (require('net').SocketAddress)(data);
  if (deserializeInfo === BLOB) return makeBlob(data);
  if (deserializeInfo === X509_CERTIFICATE) return new (require('crypto').X509Certificate)(data.raw);
  if (deserializeInfo === BLOCK_LIST) return makeBlockList(data);
  const object = String(deserializeInfo).startsWith('corral:') ?
    (webStreams ??= require('./web-streams')).make(deserializeInfo, data) : make(deserializeInfo, data, fd, internalRequire);
  made.push(object);
  return object;
}

// With DOMException's own deserializer where the line has one (Node 22+), as Node makes it.
function makeDomException({ message, name, stack }) {
  const object = new DOMException(message, name);
  const deserialize = findSymbol(object, 'messaging_deserialize_symbol');
  if (typeof object[deserialize] === 'function') {
    object[deserialize]({ message, name, stack });
  } else {
    Object.defineProperty(object, 'stack', { value: stack, writable: true, configurable: true, enumerable: false });
  }
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
