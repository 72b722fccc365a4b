'use strict';
// The primary's listening handles, one per key (address:port:type:fd:index), each serving the
// workers that asked for it. Three schedules:
// - RoundRobinHandle: Rust owns the listening socket (a TCP one made to listen by Node's
//   net.Server first, as Node's primary does); its accept thread writes connections
//   into each worker's hand-off lane, to the worker with the fewest waiting there
//   (src/net/accept.rs, src/net/lane.rs). No JS per connection in the primary.
// - SharedHandle (SCHED_NONE, and all UDP): one bound socket, sent to every worker, which
//   all listen on it; the kernel picks who accepts.
// - ReusePortHandle: one SO_REUSEPORT socket per worker on the same port (a bound, never
//   listening holder reserves the port). The kernel spreads connections evenly, but those
//   queued on a worker's socket when it dies are lost (unless net.ipv4.tcp_migrate_req=1).
const binding = require('../binding');
const { RawFd } = require('../child_process/handles');
const { major } = require('../node-line');

const isUdp = (message) => message.addressType === 'udp4' || message.addressType === 'udp6';
const isPipe = (message) => !isUdp(message) && (message.port < 0 || message.addressType === -1);

// A dgram socket's port as Node's primary binds it: absent is 0, anything else is read as an
// unsigned 32-bit number (a string '0', -1) and cut to 16 bits (libuv's sockaddr port).
const udpPort = (port) => (Number(port || 0) >>> 0) & 0xffff;

function spec(address, message, extra) {
  const pipe = isPipe(message);
  const udp = isUdp(message);
  return {
    host: pipe ? undefined : (address ?? undefined),
    port: pipe ? -1 : udp ? udpPort(message.port) : message.port,
    path: pipe ? address : undefined,
    backlog: undefined,
    reuseport: false,
    ipv6Only: !!(message.flags & 1),
    udp,
    reuseaddr: !!(message.flags & 4),
    ...extra,
  };
}

// A dgram socket's address of the other family (a udp6 socket bound to 127.0.0.1): Node's
// primary makes the socket of the worker's type, whose bind refuses it with EINVAL.
function udpFamilyMismatch(address, message) {
  if (!isUdp(message) || typeof address !== 'string') return false;
  const { isIPv4, isIPv6 } = require('net');
  return message.addressType === 'udp6' ? isIPv4(address) : isIPv6(address);
}

// A unix socket's path, removed when its last worker lets go of it (as Node's server close).
function socketPath(address, message) {
  return isPipe(message) ? address : undefined;
}

// A round-robin unix socket listened for with readableAll / writableAll (Node's primary passes
// them on to its listen): its file made readable / writable by all, as this line's libuv does it
// (Node 20's adds those bits to the file's mode, later lines set exactly them).
function openSocketFile(path, message) {
  const bits = (message.readableAll === true ? 0o444 : 0) | (message.writableAll === true ? 0o222 : 0);
  if (bits === 0 || path.startsWith('\0')) return;
  const fs = require('fs');
  try {
    fs.chmodSync(path, major <= 20 ? (fs.statSync(path).mode & 0o7777) | bits : bits);
  } catch {}
}

function unlinkSocket(path) {
  if (typeof path !== 'string' || path === '' || path.startsWith('\0')) return;
  try {
    require('fs').unlinkSync(path);
  } catch {}
}

class RoundRobinHandle {
  constructor(key, address, message) {
    this.key = key;
    this.all = new Map();
    this.data = null;
    this.rrKey = 0;
    this.errno = 0;
    this.path = undefined;
    this.sockname = undefined;
    this.waiting = null;  // [worker, send] of adds made while a TCP socket is being set up
    if (isPipe(message)) {
      const backlog = Number.isInteger(message.backlog) && message.backlog > 0 ? message.backlog : 511;
      this.opened(binding.rrListen(spec(address, message, { backlog })));
      this.path = this.errno ? undefined : socketPath(address, message);
      this.sockname = undefined;
      if (this.path !== undefined) openSocketFile(this.path, message);
    } else {
      this.listenAsNode(address, message);
    }
  }

  // A TCP socket is made to listen as Node's primary makes it, by a net.Server's listen() with
  // the worker's address, port, ipv6Only and backlog (so the program's own hooks on
  // net.Server.prototype.listen see it, and the address "any" is Node's choice), then handed to
  // the accept thread: its 'listening' comes before the loop could poll the server's handle, and
  // that handle is closed then (a unix socket is opened in Rust instead: closing Node's pipe
  // server would remove its file).
  listenAsNode(address, message) {
    const server = require('net').createServer();
    this.waiting = [];
    const settle = (out, sockname) => {
      const waiting = this.waiting ?? [];
      this.waiting = null;
      this.opened(out);
      this.sockname = this.errno ? undefined : sockname;
      for (const [worker, send] of waiting) this.add(worker, send);
    };
    server.once('listening', () => {
      server.removeAllListeners('error');
      const sockname = server.address();
      const fd = server._handle?.fd;
      // (-125: ECANCELED, the workers gone meanwhile; -22: EINVAL, no socket to take over)
      const out = this.waiting === null ? [-125] : typeof fd === 'number' && fd >= 0 ? binding.rrAdopt(fd) : [-22];
      server._handle?.close();
      server._handle = null;
      if (this.waiting !== null) settle(out, sockname);
    });
    server.once('error', (error) => {
      if (this.waiting !== null) settle([typeof error.errno === 'number' ? error.errno : -22]);
    });
    server.listen({ port: message.port, host: address, ipv6Only: !!(message.flags & 1), backlog: message.backlog });
  }

  opened(out) {
    this.errno = out[0] < 0 ? out[0] : 0;
    this.rrKey = out[0] < 0 ? 0 : out[0];
  }

  // `send(errno, reply, handle, workerOnly)`; the reply carries the worker's lane the first
  // time the worker listens in round-robin mode.
  add(worker, send) {
    if (this.waiting !== null) return void this.waiting.push([worker, send]);
    if (this.errno) return send(this.errno, null, null);
    const out = binding.rrAdd(this.rrKey, worker.process._channelId);
    if (out.length !== 0 && out[0] < 0) return send(out[0], null, null, true);
    this.all.set(worker.id, worker);
    const lane = out.length !== 0 ? new RawFd(out[0]) : null;
    // The channel keeps its own duplicate until the worker acknowledges it.
    send(0, { sockname: this.sockname, rrKey: this.rrKey }, lane);
    if (lane) binding.netClose(lane.fd);
  }

  remove(worker) {
    if (this.waiting !== null) {
      // Gone before the socket listened: when none is left waiting, it is closed as it opens.
      this.waiting = this.waiting.filter(([w]) => w !== worker);
      if (this.waiting.length !== 0 || this.all.size !== 0) return false;
      this.waiting = null;
      return true;
    }
    if (!this.all.delete(worker.id)) return false;
    if (worker.process._channelId) binding.rrRemove(this.rrKey, worker.process._channelId);
    if (this.all.size !== 0) return false;
    if (this.rrKey) binding.rrClose(this.rrKey);
    this.rrKey = 0;
    unlinkSocket(this.path);
    return true;
  }
}

class SharedHandle {
  constructor(key, address, message) {
    this.key = key;
    this.workers = new Map();
    this.data = null;
    if (Number.isInteger(message.fd) && message.fd >= 0) {
      // listen({ fd }) / bind({ fd }) in a worker: the socket already open at that fd here
      // (as Node's primary, the handle owns it from now on). Not a socket: EINVAL; a socket one
      // of the primary's own handles has already: EEXIST (libuv's refusal there), as Node's.
      let socket = false;
      try {
        socket = require('fs').fstatSync(message.fd).isSocket();
      } catch {}
      const taken = socket && (process._getActiveHandles?.() ?? []).some((h) => h?._handle?.fd === message.fd);
      this.errno = !socket ? -22 : taken ? -17 : 0;
      this.fd = this.errno === 0 ? message.fd : -1;
      return;
    }
    const out = udpFamilyMismatch(address, message) ? [-22] : binding.netOpen(spec(address, message));
    this.errno = out[0] < 0 ? out[0] : 0;
    this.fd = out[0] < 0 ? -1 : out[0];
    this.path = out[0] < 0 ? undefined : socketPath(address, message);
  }

  add(worker, send) {
    this.workers.set(worker.id, worker);
    send(this.errno, null, this.errno ? null : new RawFd(this.fd));
  }

  remove(worker) {
    if (!this.workers.delete(worker.id)) return false;
    if (this.workers.size !== 0) return false;
    binding.netClose(this.fd);
    this.fd = -1;
    unlinkSocket(this.path);
    return true;
  }
}

class ReusePortHandle {
  constructor(key, address, message) {
    this.key = key;
    this.address = address;
    this.message = message;
    this.workers = new Map();
    this.data = null;
    const out = binding.netOpen(spec(address, message, { reuseport: true }));
    this.errno = out[0] < 0 ? out[0] : 0;
    this.holder = out[0] < 0 ? -1 : out[0];
    this.port = out[1];
  }

  add(worker, send) {
    if (this.errno) return send(this.errno, null, null);
    const out = binding.netOpen(spec(this.address, { ...this.message, port: this.port }, { reuseport: true }));
    if (out[0] < 0) return send(out[0], null, null, true);
    this.workers.set(worker.id, worker);
    // The channel keeps its own duplicate until the worker acknowledges it.
    send(0, null, new RawFd(out[0]));
    binding.netClose(out[0]);
  }

  remove(worker) {
    if (!this.workers.delete(worker.id)) return false;
    if (this.workers.size !== 0) return false;
    binding.netClose(this.holder);
    this.holder = -1;
    return true;
  }
}

module.exports = { RoundRobinHandle, SharedHandle, ReusePortHandle };
