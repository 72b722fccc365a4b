'use strict';
// child_process.fork(): Node's argument handling and validation, then a ChildProcess that
// Rust spawns.
// The real process, held here: a program may replace globalThis.process (Node's own code keeps
// its reference too).
const process = require('process');
const { fileURLToPath } = require('url');
const { inspect } = require('util');
const { ChildProcess, toSignal } = require('./child_process');
const { makeError, invalidArgType, invalidArgValue, outOfRange } = require('../errors');
const { major } = require('../node-line');

// Node's wording: a name with a dot is a property, else an argument.
function invalidValue(name, value, reason) {
  return makeError(TypeError, 'ERR_INVALID_ARG_VALUE',
    `The ${name.includes('.') ? 'property' : 'argument'} '${name}' ${reason}. Received ${inspect(value)}`);
}

function validatePath(value, name) {
  let path;
  if (typeof value === 'string') path = value;
  else if (Buffer.isBuffer(value)) path = value.toString();
  else if (value instanceof URL || (value && typeof value.href === 'string' && value.protocol)) path = fileURLToPath(value);
  else throw invalidArgType(name, ['string', 'Buffer', 'URL'], value);
  if (path.includes('\u0000')) throw invalidValue(name, value, 'must be a string, Uint8Array, or URL without null bytes');
  return path;
}

function noNullBytes(value, name) {
  if (typeof value === 'string' && value.includes('\u0000')) {
    throw invalidValue(name, value, 'must be a string without null bytes');
  }
}

function noNullBytesIn(list, name) {
  for (let i = 0; i < list.length; i++) noNullBytes(list[i], `${name}[${i}]`);
}

const isInt32 = (value) => value === (value | 0);

// uid/gid: Node 20-24 reject anything but an int32 as a wrong type; Node 26 uses its generic
// validateInt32 (a type error for non-numbers, a range error for the rest).
function validateInt32(value, name) {
  if (value == null || isInt32(value)) return;
  if (major < 26) {
    throw makeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" property must be int32.${describe(value)}`);
  }
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  throw outOfRange(name, '>= -2147483648 && <= 2147483647', value);
}

// Node 20-24 accept an unsigned integer and say so; Node 26 validates a safe integer >= 0.
function validateTimeout(timeout) {
  if (timeout == null) return;
  if (major < 26) {
    if (Number.isInteger(timeout) && timeout >= 0) return;
    throw outOfRange('timeout', 'an unsigned integer', inspect(timeout));
  }
  if (typeof timeout !== 'number') throw invalidArgType('timeout', 'number', timeout);
  if (!Number.isInteger(timeout)) throw outOfRange('timeout', 'an integer', timeout);
  if (timeout < 0 || timeout > Number.MAX_SAFE_INTEGER) {
    throw outOfRange('timeout', `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, timeout);
  }
}

function describe(value) {
  let shown = inspect(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

function stdioArray(stdio, channel) {
  const base = stdio === 'inherit' ? [0, 1, 2] :
    (stdio === 'pipe' || stdio === 'overlapped' || stdio === 'ignore') ? [stdio, stdio, stdio] : null;
  if (base === null) {
    throw makeError(TypeError, 'ERR_INVALID_ARG_VALUE',
      `The argument 'stdio' is invalid. Received ${inspect(stdio)}`);
  }
  return [...base, channel];
}

function normalize(modulePath, args, options) {
  modulePath = validatePath(modulePath, 'modulePath');
  if (args == null) {
    args = [];
  } else if (typeof args === 'object' && !Array.isArray(args)) {
    options = args;
    args = [];
  } else if (!Array.isArray(args)) {
    throw invalidArgType('args', 'Array', args);
  }
  if (options != null && (typeof options !== 'object' || Array.isArray(options))) {
    throw invalidArgType('options', 'object', options);
  }
  options = { ...options, shell: false };
  options.execPath = options.execPath || process.execPath;
  noNullBytes(options.execPath, 'options.execPath');
  let execArgv = options.execArgv || process.execArgv;
  noNullBytesIn(execArgv, 'options.execArgv');
  if (execArgv === process.execArgv && process._eval != null) {
    // Drop -e/--eval so the child does not run the parent's script again.
    const i = execArgv.lastIndexOf(process._eval);
    if (i > 0) {
      execArgv = execArgv.slice(0);
      execArgv.splice(i - 1, 2);
    }
  }
  args = [...execArgv, modulePath, ...args];
  if (typeof options.stdio === 'string') {
    options.stdio = stdioArray(options.stdio, 'ipc');
  } else if (!Array.isArray(options.stdio)) {
    options.stdio = stdioArray(options.silent ? 'pipe' : 'inherit', 'ipc');
  } else if (!options.stdio.includes('ipc')) {
    throw makeError(Error, 'ERR_CHILD_PROCESS_IPC_REQUIRED',
      "Forked processes must have an IPC channel, missing value 'ipc' in options.stdio");
  }
  // What Node's spawn() checks next: the file, the arguments, then the options.
  if (typeof options.execPath !== 'string') throw invalidArgType('file', 'string', options.execPath);
  noNullBytes(options.execPath, 'file');
  if (options.execPath.length === 0) throw invalidValue('file', options.execPath, 'cannot be empty');
  noNullBytesIn(args, 'args');
  if (options.cwd != null) options.cwd = validatePath(options.cwd, 'options.cwd');
  if (options.stdio.filter((entry) => entry === 'ipc').length > 1) {
    throw makeError(Error, 'ERR_IPC_ONE_PIPE', 'Child process can have only one IPC pipe');
  }
  if (options.detached != null && typeof options.detached !== 'boolean') {
    throw invalidArgType('options.detached', 'boolean', options.detached);
  }
  validateInt32(options.uid, 'options.uid');
  validateInt32(options.gid, 'options.gid');
  if (options.argv0 != null) {
    if (typeof options.argv0 !== 'string') throw invalidArgType('options.argv0', 'string', options.argv0);
    noNullBytes(options.argv0, 'options.argv0');
  }
  // Windows-only, but checked everywhere as Node checks them.
  for (const name of ['windowsHide', 'windowsVerbatimArguments']) {
    if (options[name] != null && typeof options[name] !== 'boolean') {
      throw invalidArgType(`options.${name}`, 'boolean', options[name]);
    }
  }
  const serialization = options.serialization || 'json';
  if (serialization !== 'json' && serialization !== 'advanced') {
    throw makeError(TypeError, 'ERR_INVALID_ARG_VALUE',
      "The property 'options.serialization' must be one of: undefined, 'json', 'advanced'. " +
      `Received ${inspect(options.serialization)}`);
  }
  validateTimeout(options.timeout);
  if (options.signal !== undefined &&
      (options.signal === null || typeof options.signal !== 'object' || !('aborted' in options.signal))) {
    throw invalidArgType('options.signal', 'AbortSignal', options.signal);
  }
  const killSignal = options.killSignal == null ? 'SIGTERM' : options.killSignal;
  toSignal(killSignal);
  const env = options.env || process.env;
  const envPairs = [];
  for (const key in env) {
    const value = env[key];
    if (value !== undefined) {
      noNullBytes(key, `options.env['${key}']`);
      noNullBytes(String(value), `options.env['${key}']`);
      envPairs.push(`${key}=${value}`);
    }
  }
  return {
    file: options.execPath, args: [typeof options.argv0 === 'string' ? options.argv0 : options.execPath, ...args], envPairs, cwd: options.cwd,
    stdio: options.stdio, uid: options.uid, gid: options.gid, detached: options.detached,
    serialization, timeout: options.timeout, signal: options.signal, killSignal,
    deathSignal: options.deathSignal,
    // The child's end of the channel is corral's when the child runs this same node (the
    // addon loads there); cluster workers and CORRAL_CHILD_CHANNEL=0 keep Node's.
    childChannel: options.childChannel !== false && options.execPath === process.execPath &&
      process.env.CORRAL_CHILD_CHANNEL !== '0',
  };
}

function fork(modulePath, args, options) {
  const opts = normalize(modulePath, args, options);
  const child = new ChildProcess();
  child.spawn(opts);
  if (opts.timeout > 0) {
    let timer = setTimeout(() => {
      if (timer) {
        try {
          child.kill(opts.killSignal);
        } catch (err) {
          child.emit('error', err);
        }
        timer = null;
      }
    }, opts.timeout);
    child.once('exit', () => {
      if (timer) {
        clearTimeout(timer);
        timer = null;
      }
    });
  }
  if (opts.signal) {
    const onAbort = () => {
      if (child.kill(opts.killSignal)) {
        const err = new Error('The operation was aborted', { cause: opts.signal.reason });
        err.name = 'AbortError';
        err.code = 'ABORT_ERR';
        child.emit('error', err);
      }
    };
    if (opts.signal.aborted) {
      process.nextTick(onAbort);
    } else {
      opts.signal.addEventListener('abort', onAbort, { once: true });
      child.once('exit', () => opts.signal.removeEventListener('abort', onAbort));
    }
  }
  return child;
}

module.exports = { fork, normalize };
