'use strict';
// Objects of Node's own classes that corral clones by value where Node's serializer would take
// their native data (src/shim/clone.cc writes each as a record `corral:<Class>` holding plain
// data): `describe` reads what only JS can read of one while its message is serialized (a
// CryptoKey's key, a Blob's bytes), `make` makes the object again on the receiving thread.
const { makeError } = require('../errors');

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
// answers later, and is refused, as Node refuses it), type, and (24+) a File's name and
// lastModified. Undefined: refused.
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

function describeCryptoKey(object) {
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

// With DOMException's own deserializer where the line has one (Node 22+), as Node makes it.
function makeDomException({ message, name, stack }) {
  const object = new DOMException(message, name);
  const deserialize = symbolOnChain(object, 'messaging_deserialize_symbol');
  if (typeof object[deserialize] === 'function') {
    object[deserialize]({ message, name, stack });
  } else {
    Object.defineProperty(object, 'stack', { value: stack, writable: true, configurable: true, enumerable: false });
  }
  return object;
}


// (A symbol found by its description on the object or its prototypes.)
function symbolOnChain(object, description) {
  for (let o = object; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    const found = Object.getOwnPropertySymbols(o).find((s) => s.description === description);
    if (found !== undefined) return found;
  }
  return undefined;
}

function describe(kind, object) {
  if (kind === 'Blob') return describeBlob(object);
  if (kind === 'CryptoKey') return describeCryptoKey(object);
  return undefined;
}

const makers = {
  [DOM_EXCEPTION]: makeDomException,
  [KEY_OBJECT]: makeKeyObject,
  [CRYPTO_KEY]: (data) => makeKeyObject(data).toCryptoKey(data.algorithm, data.extractable, data.usages),
  [SOCKET_ADDRESS]: (data) => new (require('net').SocketAddress)(data),
  [BLOB]: makeBlob,
  [X509_CERTIFICATE]: (data) => new (require('crypto').X509Certificate)(data.raw),
  [BLOCK_LIST]: makeBlockList,
};

const makes = (deserializeInfo) => Object.hasOwn(makers, deserializeInfo);
const make = (deserializeInfo, data) => makers[deserializeInfo](data);

module.exports = { describe, makes, make };
