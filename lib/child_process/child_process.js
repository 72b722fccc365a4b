'use strict';
// ChildProcess for processes Rust spawns (src/process): pid, exitCode/signalCode, kill,
// ref/unref, stdio streams, and Node's event order (spawn, message..., disconnect, exit, close).
// The real process, held here: a program may replace globalThis.process (Node's own code keeps
// its reference too).
const process = require('process');
const EventEmitter = require('events');
const net = require('net');
const { constants: { signals } } = require('os');
const builtin = require('../builtins').get('child_process');
const binding = require('../binding');
const dispatch = require('./dispatch');
const { setupChannel, errnoException } = require('./channel');
const { makeError } = require('../errors');
const childPreload = require('path').join(__dirname, 'child-preload.js');

// The first name of a number, as Node reports it (6 is SIGABRT, not SIGIOT; 29 SIGIO, not SIGPOLL).
const signalNames = {};
for (const [name, number] of Object.entries(signals)) signalNames[number] ??= name;

function toSignal(sig, name = 'signal') {
  if (typeof sig === 'number' && signalNames[sig] !== undefined) return sig;
  if (typeof sig === 'string' && signals[sig.toUpperCase()] !== undefined) return signals[sig.toUpperCase()];
  throw makeError(TypeError, 'ERR_UNKNOWN_SIGNAL', require('util').format('Unknown signal: %s', sig));
}

// stdio entries -> native codes: -1 inherit, -2 ignore, -3 pipe, n = that fd.
function stdioCode(entry, i) {
  if (entry === null || entry === undefined) return i < 3 ? -3 : -2;
  if (entry === 'pipe' || entry === 'overlapped') return -3;
  if (entry === 'ignore') return -2;
  if (entry === 'inherit') return i;
  if (typeof entry === 'number') return entry < 0 ? -3 : entry;
  if (typeof entry?.fd === 'number') return entry.fd;
  if (entry?._handle && typeof entry._handle.fd === 'number') return entry._handle.fd;
  if (typeof entry === 'string' || ArrayBuffer.isView(entry)) {
    throw makeError(TypeError, 'ERR_INVALID_SYNC_FORK_INPUT',
      `Asynchronous forks do not support Buffer, TypedArray, DataView or string input: ${require('util').inspect(entry)}`);
  }
  throw makeError(TypeError, 'ERR_INVALID_ARG_VALUE',
    `The argument 'stdio' is invalid. Received ${require('util').inspect(entry)}`);
}

// The child has exited (or could not be spawned: a negative errno): 'exit' (or 'error'), then
// 'close' once its stdio and channel have closed too. (Module functions, as Node's: nothing of
// these on a ChildProcess.)
function onExit(child, code, sig) {
  child._exited = true;
  if (sig) child.signalCode = signalNames[sig];
  else child.exitCode = code;
  if (child.stdin) child.stdin.destroy();
  if (code < 0 && !sig) {
    const syscall = child.spawnfile ? `spawn ${child.spawnfile}` : 'spawn';
    const err = errnoException(code, syscall);
    if (child.spawnfile) err.path = child.spawnfile;
    err.spawnargs = child.spawnargs.slice(1);
    child.emit('error', err);
  } else {
    child.emit('exit', child.exitCode, child.signalCode);
  }
  process.nextTick(() => {
    // Node flushes stdio that nobody reads, so 'close' is not held up by it.
    for (const s of child.stdio) {
      if (s && s.readable && !s.readableFlowing && s.listenerCount('data') === 0) s.resume();
    }
  });
  maybeClose(child);
}

function maybeClose(child) {
  if (++child._closesGot === child._closesNeeded) {
    child.emit('close', child.exitCode, child.signalCode);
  }
}

class ChildProcess extends EventEmitter {
  constructor() {
    super();
    this._closesNeeded = 1;
    this._closesGot = 0;
    this.connected = false;
    this.signalCode = null;
    this.exitCode = null;
    this.killed = false;
    this.spawnfile = null;
    this.pid = undefined;
    this.stdin = null;
    this.stdout = null;
    this.stderr = null;
    this.stdio = [null, null, null];
    // corral's own bookkeeping, out of the object's keys (Node's has _handleQueue and
    // _pendingMessage there, null while no handle is on its way).
    for (const key of ['_watch', '_exited', '_channelClosed', '_channelId']) {
      Object.defineProperty(this, key, { value: key === '_exited' ? false : key === '_watch' ? 0 : undefined, writable: true, configurable: true });
    }
    this._handleQueue = null;
    this._pendingMessage = null;
  }

  // options: { file, args, envPairs, cwd, stdio (array), uid, gid, detached, serialization,
  // deathSignal } (already validated by fork()).
  spawn(options) {
    this.spawnfile = options.file;
    this.spawnargs = options.args;
    const stdio = options.stdio;
    const ipcIndex = stdio.indexOf('ipc');
    // fds 0-2, then any further entries (the IPC slot is made from ipcFd, not from here).
    const codes = stdio.map((entry, i) => (i === ipcIndex ? -2 : stdioCode(entry, i)));
    while (codes.length < 3) codes.push(stdioCode(undefined, codes.length));
    const env = [...options.envPairs];
    let args = options.args.slice(1);
    // The channel's doorbell page (src/ipc/bell.rs), for a child whose end is corral's: one fd
    // past the stdio entries, which the child's preload maps and closes.
    let bellFd = -1;
    if (ipcIndex >= 0 && options.childChannel) {
      // See child-preload.js; spawnargs stay what Node reports.
      env.push(`CORRAL_CHANNEL_FD=${ipcIndex}`, `NODE_CHANNEL_SERIALIZATION_MODE=${options.serialization}`);
      args = ['--require', childPreload, ...args];
      bellFd = binding.ipcBellCreate();
      if (bellFd >= 0) {
        env.push(`CORRAL_BELL_FD=${codes.length}`);
        codes.push(bellFd);
      }
    } else if (ipcIndex >= 0) {
      env.push(`NODE_CHANNEL_FD=${ipcIndex}`, `NODE_CHANNEL_SERIALIZATION_MODE=${options.serialization}`);
    }
    dispatch.init();
    let out;
    try {
      out = binding.procSpawn({
        file: options.file,
        argv0: options.args[0] === options.file ? undefined : String(options.args[0]),
        // As Node: each argument as a string (numbers too).
        args: args.map(String),
        env,
        cwd: options.cwd ?? undefined,
        stdio: codes,
        ipcFd: ipcIndex,
        uid: options.uid ?? undefined,
        gid: options.gid ?? undefined,
        detached: !!options.detached,
        deathSignal: options.deathSignal || 0,
      });
    } catch (error) {
      if (bellFd >= 0) require('fs').closeSync(bellFd);
      throw error;
    }
    if (bellFd >= 0) {
      codes.pop();  // (the doorbell's slot: no stdio entry)
      if (out[0] < 0) {
        require('fs').closeSync(bellFd);
        bellFd = -1;
      }
    }
    if (out[0] < 0) {
      const errno = out[0];
      const name = require('util').getSystemErrorName(errno);
      if (!['EACCES', 'EAGAIN', 'EMFILE', 'ENFILE', 'ENOENT'].includes(name)) {
        throw errnoException(errno, 'spawn');
      }
      // Node reports these asynchronously; a channel with no peer ends right away. The pipes
      // asked for are there as in Node, as sockets with no handle (a program reads
      // child.stdout before it learns of the error).
      this.stdio = codes.map((code, i) => (code === -3 && i !== ipcIndex ? new net.Socket({ handle: null, readable: i > 0 }) : null));
      [this.stdin, this.stdout, this.stderr] = this.stdio;
      if (ipcIndex >= 0) {
        this._closesNeeded++;
        const [a, b] = binding.ipcPair();
        require('fs').closeSync(b);
        setupChannel(this, a, options.serialization);
        this._channelClosed = () => maybeClose(this);
      }
      process.nextTick(() => onExit(this, errno, 0));
      return errno;
    }
    const [pid, inFd, outFd, errFd, chanFd, ...extraFds] = out;
    if (bellFd >= 0) extraFds.pop();  // (the doorbell's slot: no stdio entry)
    this.pid = pid;
    const fds = [inFd, outFd, errFd];
    for (let i = 0; i < 3; i++) {
      if (fds[i] < 0) continue;
      const readable = i !== 0;
      const socket = new net.Socket({ fd: fds[i], readable, writable: !readable });
      if (readable) {
        this._closesNeeded++;
        socket.on('close', () => maybeClose(this));
      }
      this.stdio[i] = socket;
    }
    [this.stdin, this.stdout, this.stderr] = this.stdio;
    // fds 3 and up: a pipe is a duplex socket at that index, as Node gives it.
    for (let i = 0; i < extraFds.length; i++) {
      const at = 3 + i;
      while (this.stdio.length < at) this.stdio.push(null);
      if (extraFds[i] < 0) {
        this.stdio[at] = null;
        continue;
      }
      const socket = new net.Socket({ fd: extraFds[i], readable: true, writable: true });
      this._closesNeeded++;
      socket.on('close', () => maybeClose(this));
      this.stdio[at] = socket;
    }
    if (ipcIndex >= 0) {
      while (this.stdio.length < ipcIndex) this.stdio.push(null);
      this.stdio[ipcIndex] = null;
      this._closesNeeded++;
      setupChannel(this, chanFd, options.serialization, bellFd);
      this._channelClosed = () => maybeClose(this);
    } else if (bellFd >= 0) {
      require('fs').closeSync(bellFd);
    }
    this._watch = binding.procWatch(pid, this._channelId || 0);
    dispatch.register(this._watch, {
      onNative: (kind, code, sig) => {
        dispatch.unregister(this._watch);
        onExit(this, code, sig);
      },
    });
    process.nextTick(() => this.emit('spawn'));
    return 0;
  }

  kill(sig) {
    const signal = sig === 0 ? 0 : toSignal(sig === undefined ? 'SIGTERM' : sig);
    if (this.pid === undefined || this._exited) return false;
    try {
      process.kill(this.pid, signal);
    } catch (err) {
      if (err.code === 'ESRCH') return false;
      if (err.code === 'EINVAL' || err.code === 'ENOSYS') throw err;
      this.emit('error', err);
      return false;
    }
    this.killed = true;
    return true;
  }

  [Symbol.dispose]() {
    if (!this.killed) this.kill();
  }

  ref() {
    if (this._watch && !this._exited) binding.procRef(this._watch, true);
  }

  unref() {
    if (this._watch && !this._exited) binding.procRef(this._watch, false);
  }
}

// `fork() instanceof require('child_process').ChildProcess` holds, as with Node's.
// (Every method of Node's prototype is shadowed here; only the chain is shared.)
Object.setPrototypeOf(ChildProcess.prototype, builtin.ChildProcess.prototype);

module.exports = { ChildProcess, toSignal };
