'use strict';
// The worker's end of its hand-off lane (src/net/lane.rs, src/net/lane_js.rs): round-robin
// connections arrive in batches of [key, fd, ...]; each is routed by the cluster worker
// (./child.js) to the server listening on that key as a TCP (or Pipe) handle, kept while the key may
// still be named by a queryServer reply on its way, or handed back to the primary.
const net = require('net');
const binding = require('../binding');
const dispatch = require('../child_process/dispatch');

const TAKEN = 0;
const WAIT = 1;
const GIVE_BACK = 2;

let id = 0;
let route = null; // (rrKey, fd) -> TAKEN | WAIT | GIVE_BACK
let waiting = []; // rrKey, fd, rrKey, fd, ...
let TCP = null;
let Pipe = null;

function open(pipe, onconnection) {
  const fd = pipe.fd;
  if (id === 0) {
    dispatch.init();
    id = binding.laneOpen(fd);
    route = onconnection;
    dispatch.register(id, { onNative });
  }
  pipe.close();
}

function onNative(kind, list) {
  if (kind === dispatch.EV.CONNECTIONS) {
    for (let i = 0; i < list.length; i += 2) take(list[i], list[i + 1]);
  } else if (kind === dispatch.EV.CLOSE) {
    // The primary let go of this worker: nothing more comes, nobody takes what waits.
    dispatch.unregister(id);
    id = 0;
    for (let i = 1; i < waiting.length; i += 2) binding.netClose(waiting[i]);
    waiting = [];
  }
}

let taken = 0; // connections this worker has taken, for the supervisor's status

function take(rrKey, fd) {
  const r = route(rrKey, fd);
  if (r === TAKEN) taken++;
  else if (r === WAIT) waiting.push(rrKey, fd);
  else if (r === GIVE_BACK) binding.laneReturn(id, rrKey, fd); // closes fd if it cannot go
}

function retry(pred) {
  const held = waiting;
  waiting = [];
  for (let i = 0; i < held.length; i += 2) {
    if (pred(held[i])) take(held[i], held[i + 1]);
    else waiting.push(held[i], held[i + 1]);
  }
}

// A queryServer reply named `rrKey`: what waited for it is served now.
function known(rrKey) {
  if (waiting.length !== 0) retry((k) => k === rrKey);
}

// No reply is on its way: nothing waits any longer.
function settled() {
  if (waiting.length !== 0) retry(() => true);
}

// A TCP handle, or for a unix-socket server a Pipe handle (as net's server gets from an
// accept), owning `fd`; null if it could not (fd closed).
function connectionHandle(fd, pipe) {
  if (TCP === null) {
    // net has the classes; unconnected sockets show them without process.binding().
    const probe = new net.Socket({ fd: binding.tcpProbeFd(), readable: false, writable: false });
    TCP = probe._handle.constructor;
    probe.destroy();
    const [a, b] = binding.ipcPair();
    const pipeProbe = new net.Socket({ fd: a, readable: false, writable: false });
    Pipe = pipeProbe._handle.constructor;
    pipeProbe.destroy();
    binding.netClose(b);
  }
  const handle = pipe ? new Pipe(0) : new TCP(0); // PipeConstants.SOCKET / TCPConstants.SOCKET
  if (handle.open(fd) === 0) return handle;
  handle.close();
  binding.netClose(fd);
  return null;
}

module.exports = { open, known, settled, connectionHandle, takenCount: () => taken, TAKEN, WAIT, GIVE_BACK };
