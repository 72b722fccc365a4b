'use strict';
// Regions: blocks of memory shared by threads and processes, seen from JS as a real
// SharedArrayBuffer. Anonymous (a memfd) by default; named in the program's directory so that
// other processes of the program open them by name; or a POSIX shm object when asked.
const os = require('os');
const binding = require('../binding');
const { makeError, invalidArgValue, invalidArgType } = require('../errors');
const {
  validateSize, validateName, validateObject, validateBoolean, validateSab, validateInteger,
} = require('./validate');

const native = binding.native;
const kEnvDir = 'CORRAL_SHARED_DIR';

// Join the directory our parent published (or start one), and publish it to our children.
const dirToken = binding.sharedAttachDirectory(process.env[kEnvDir] || undefined);
process.env[kEnvDir] = dirToken;

const errnoNames = new Map(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));

function systemError(code, syscall, subject) {
  const errno = -code;
  const name = errnoNames.get(errno) || 'EUNKNOWN';
  const err = new Error(`${syscall} failed: ${name} (errno ${errno})${subject !== undefined ? `, ${subject}` : ''}`);
  err.code = name;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

function regionError(code, what, name) {
  switch (code) {
    case 1000:
      return makeError(Error, 'ERR_CORRAL_SHARED_NOT_FOUND',
        `No shared region ${what === 'handle' ? 'for handle' : 'named'} ${JSON.stringify(name)}`);
    case 1001:
      return makeError(Error, 'ERR_CORRAL_SHARED_EXISTS',
        `A shared region named ${JSON.stringify(name)} already exists`);
    case 1002:
      return makeError(Error, 'ERR_CORRAL_SHARED_DIRECTORY_FULL',
        'The program\'s shared-region directory is full (256 names); unlink names no longer used');
    case 1003:
      return invalidArgValue(what, name, 'is invalid');
    default:
      if (code === -2 && what === 'handle') return regionError(1000, what, name);
      // Not a region corral made (a plain file, a memfd whose size could change under the mapping).
      if (code === -22 && (what === 'fd' || what === 'handle')) {
        return invalidArgValue(what, name, 'is not a corral/shared region (a memfd with a sealed size)');
      }
      return systemError(code, what === 'fd' ? 'mmap' : 'shared memory', name);
  }
}

function check(result, what, name) {
  if (typeof result === 'number') throw regionError(result, what, name);
  return result;
}

// POSIX names made here, removed when this environment exits (or by unlink()).
const posixOwned = new Set();
let exitHookInstalled = false;
function ownPosix(name) {
  posixOwned.add(name);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const n of posixOwned) binding.sharedUnlink(n, true);
    posixOwned.clear();
  });
}

// create(size[, { name, posix }]) -> SharedArrayBuffer of `size` zeroed bytes.
function create(size, options) {
  validateSize(size);
  const opts = validateObject(options, 'options');
  const posix = validateBoolean(opts.posix, 'options.posix');
  let name;
  if (opts.name !== undefined) name = validateName(opts.name, 'options.name');
  if (posix && name === undefined) {
    throw invalidArgValue('options.posix', posix, 'needs options.name');
  }
  const sab = check(native.sharedCreate(size, name, posix), 'options.name', name);
  if (posix) ownPosix(name);
  return sab;
}

// open(name[, { posix }]) -> the SharedArrayBuffer of a region created with that name.
function open(name, options) {
  validateName(name);
  const opts = validateObject(options, 'options');
  const posix = validateBoolean(opts.posix, 'options.posix');
  return check(native.sharedOpen(posix ? 2 : 1, name), 'name', name);
}

// fromHandle(handle) -> the region whose handle(sab) string this is (from env, argv, a message).
function fromHandle(handle) {
  if (typeof handle !== 'string') throw invalidArgType('handle', 'string', handle);
  if (!/^corral:\d+:\d+:\d+$/.test(handle)) {
    throw invalidArgValue('handle', handle, 'is not a corral/shared handle');
  }
  return check(native.sharedOpen(3, handle), 'handle', handle);
}

// fromFd(fd) -> maps the region open as `fd` (inherited through spawn's stdio). The fd stays yours.
function fromFd(fd) {
  validateInteger(fd, 'fd', 0, 2 ** 31 - 1);
  return check(native.sharedOpen(4, fd), 'fd', fd);
}

// describe(sab) -> { kind, name, size, fd, handle } for a region made by corral/shared.
function describe(sab) {
  validateSab(sab, 'buffer');
  const text = native.sharedDescribe(sab);
  if (text === undefined) {
    throw invalidArgValue('buffer', sab, 'is not a corral/shared region');
  }
  const [kind, fd, handle, ...rest] = text.split('\n');
  const name = rest.join('\n');
  return { kind, name: name || undefined, size: sab.byteLength, fd: Number(fd), handle };
}

function handle(sab) {
  return describe(sab).handle;
}

function isRegion(value) {
  return value instanceof SharedArrayBuffer && native.sharedDescribe(value) !== undefined;
}

// unlink(name[, { posix }]) -> true if the name existed. Memory stays mapped where it is open.
function unlink(name, options) {
  validateName(name);
  const opts = validateObject(options, 'options');
  const posix = validateBoolean(opts.posix, 'options.posix');
  const code = binding.sharedUnlink(name, posix);
  if (posix) posixOwned.delete(name);
  if (code === 0) return true;
  if (code === 1000) return false;
  throw regionError(code, 'name', name);
}

// Names registered in the program's directory.
function names() {
  return binding.sharedNames();
}

module.exports = {
  create, open, fromHandle, fromFd, describe, handle, isRegion, unlink, names, kEnvDir, regionError,
};
