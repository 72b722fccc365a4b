'use strict';
// Sockets of a server sent to another process, as Node counts them: the sending side's
// server.getConnections() and server.close() ask the receiving side how many of the sockets it
// got under that server's key are still open (internal messages NODE_SOCKET_GET_COUNT /
// NODE_SOCKET_COUNT, NODE_SOCKET_NOTIFY_CLOSE / NODE_SOCKET_ALL_CLOSED, Node's wire protocol).
const EventEmitter = require('events');

// Sending side: one per (channel, server key), registered with the server (server._workers).
class SocketListSend extends EventEmitter {
  constructor(target, key) {
    super();
    this.target = target;
    this.key = key;
    this.pending = [];  // { reply, resolve }
    target.once('disconnect', () => this.#end());
    target.once('exit', () => this.#end());
  }

  #request(cmd, reply, onAnswer) {
    if (!this.target.connected) return onAnswer(null);
    this.pending.push({ reply, onAnswer });
    this.target._send({ cmd, key: this.key }, null, { swallowErrors: true });
  }

  // An internal message from the receiving side: true when it was an answer of ours.
  answer(message) {
    const i = this.pending.findIndex((p) => p.reply === message.cmd);
    if (i < 0 || message.key !== this.key) return false;
    const [{ onAnswer }] = this.pending.splice(i, 1);
    onAnswer(message);
    return true;
  }

  #end() {
    for (const { onAnswer } of this.pending.splice(0)) onAnswer(null);
    this.emit('exit', this);
  }

  getConnections(callback) {
    this.#request('NODE_SOCKET_GET_COUNT', 'NODE_SOCKET_COUNT', (m) => callback(null, m?.count ?? 0));
  }

  close(callback) {
    this.#request('NODE_SOCKET_NOTIFY_CLOSE', 'NODE_SOCKET_ALL_CLOSED', () => callback());
  }
}

// Per channel: the sending lists by key, and what was received by key.
function socketLists(target) {
  const sending = new Map();  // key -> SocketListSend
  const received = new Map(); // key -> { open, notify }

  function reply(message) {
    target._send(message, null, { swallowErrors: true });
  }

  return {
    // A socket of `server` goes out (the envelope gets the key, the server a list to ask).
    sending(socket, envelope, keepOpen) {
      const server = socket.server;
      if (!server || typeof server._setupWorker !== 'function') return;
      const key = server._connectionKey;
      envelope.key = key;
      let list = sending.get(key);
      if (list === undefined) {
        list = new SocketListSend(target, key);
        sending.set(key, list);
        list.once('exit', () => sending.delete(key));
        server._setupWorker(list);
      }
      if (!keepOpen) server._connections--;
    },

    // A socket came in under `key`: counted until it closes.
    received(socket, key) {
      if (typeof key !== 'string') return;
      const entry = received.get(key) ?? { open: 0, notify: false };
      received.set(key, entry);
      entry.open++;
      socket.once('close', () => {
        entry.open--;
        if (entry.open === 0 && entry.notify) {
          entry.notify = false;
          reply({ cmd: 'NODE_SOCKET_ALL_CLOSED', key });
        }
      });
    },

    // An internal message for the lists: true when it was one.
    internal(message) {
      switch (message.cmd) {
        case 'NODE_SOCKET_GET_COUNT':
          reply({ cmd: 'NODE_SOCKET_COUNT', key: message.key, count: received.get(message.key)?.open ?? 0 });
          return true;
        case 'NODE_SOCKET_NOTIFY_CLOSE': {
          const entry = received.get(message.key);
          if (!entry || entry.open === 0) reply({ cmd: 'NODE_SOCKET_ALL_CLOSED', key: message.key });
          else entry.notify = true;
          return true;
        }
        case 'NODE_SOCKET_COUNT':
        case 'NODE_SOCKET_ALL_CLOSED':
          return sending.get(message.key)?.answer(message) ?? true;
        default:
          return false;
      }
    },
  };
}

module.exports = { socketLists };
