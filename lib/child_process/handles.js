'use strict';
// Handles sent over IPC (Node's NODE_HANDLE envelope): which type a handle is, its fd for
// sending, and how a received fd becomes an object again.
const { makeError } = require('../errors');

// `net` and `dgram` load with the first handle that needs them: a child whose channel never
// carries one does not load them (Node's own channel loads both, with all of `stream`, in every
// forked child: 3-4 ms of its start).
const lazy = {
  get net() { return require('net'); },
  get dgram() { return require('dgram'); },
};

// A bare fd to send as a native handle (the cluster primary's listening sockets).
class RawFd {
  constructor(fd) {
    this.fd = fd;
  }
}

function typeOf(handle) {
  if (handle instanceof RawFd) return 'net.Native';
  if (handle instanceof lazy.net.Socket) return 'net.Socket';
  if (handle instanceof lazy.net.Server) return 'net.Server';
  if (handle instanceof lazy.dgram.Socket) return 'dgram.Socket';
  if (handle && typeof handle === 'object' && typeof handle.fd === 'number' &&
      typeof handle.readStart === 'function') return 'net.Native';
  throw makeError(TypeError, 'ERR_INVALID_HANDLE_TYPE', 'This handle type cannot be sent');
}

// The fd to send, or -1 when the handle has none (closed, or not a real socket).
function fdOf(type, handle) {
  let native;
  if (type === 'net.Socket' || type === 'net.Server') native = handle._handle;
  else if (type === 'dgram.Socket') native = handle[Object.getOwnPropertySymbols(handle).find((s) => String(s) === 'Symbol(state symbol)')]?.handle;
  else if (handle instanceof RawFd) return handle.fd;
  else native = handle;
  return native && typeof native.fd === 'number' ? native.fd : -1;
}

// As a socket goes out without keepOpen, as Node sends it: its native handle is taken off the
// socket object at once (reading stopped, so what arrives from now on stays in the kernel for the
// receiver; an HTTP connection's parser and response let go of it). The object stays, neither
// destroyed nor closed (no 'close' event); the handle is closed once sent. Returns that handle.
function beforeSend(type, handle, options) {
  if (type !== 'net.Socket' || options.keepOpen) return null;
  const native = handle._handle;
  if (!native) return null;
  native.onread = () => {};
  native.readStop?.();
  handle._handle = null;
  handle.setTimeout(0);
  if (handle.parser) {
    const { freeParser, HTTPParser } = require('_http_common');
    if (handle.parser instanceof HTTPParser) {
      freeParser(handle.parser, null, handle);
      handle._httpMessage?.detachSocket(handle);
    }
  }
  return native;
}

// After a handle went out (or could not): the native handle beforeSend took is closed (the
// receiver owns its own descriptor).
function afterSend(detached) {
  detached?.close();
}

// Rebuilds a received handle from its fd; calls back with the object to emit. Throws (the fd
// closed) when the fd is not a socket: a peer announcing a handle and sending something else;
// `fail` hears of a socket that cannot be used as announced.
function receive(message, fd, emit, fail) {
  const fs = require('fs');
  if (['net.Server', 'net.Socket', 'net.Native', 'dgram.Socket'].includes(message.type) && !fs.fstatSync(fd).isSocket()) {
    fs.closeSync(fd);
    throw makeError(TypeError, 'ERR_INVALID_FD_TYPE', `Unsupported fd type: not a socket (announced as ${message.type})`);
  }
  switch (message.type) {
    case 'net.Server': {
      const server = new lazy.net.Server();
      server.once('error', fail);
      server.listen({ fd }, () => {
        server.off('error', fail);
        emit(server);
      });
      return;
    }
    case 'net.Socket':
      emit(new lazy.net.Socket({ fd, readable: true, writable: true }));
      return;
    case 'net.Native':
      emit(new lazy.net.Socket({ fd, readable: true, writable: true })._handle);
      return;
    case 'dgram.Socket': {
      const socket = lazy.dgram.createSocket(message.dgramType || 'udp4');
      socket.once('error', fail);
      socket.bind({ fd }, () => {
        socket.off('error', fail);
        emit(socket);
      });
      return;
    }
    default:
      require('fs').closeSync(fd);
      emit(undefined);
  }
}

module.exports = { RawFd, typeOf, fdOf, beforeSend, afterSend, receive };
