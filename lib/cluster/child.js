'use strict';
// The worker side of corral's cluster. Node's own IPC client runs in the worker; this module
// answers net's and dgram's `cluster._getServer()` by asking the primary, which replies with a
// listening socket (SCHED_NONE, reuseport, UDP) or a round-robin key. Round-robin connections
// come from the primary's accept thread through this worker's hand-off lane (a socket the
// first round-robin reply carries; see src/net/lane.rs), many per read, never as messages.
const path = require('path');
const Worker = require('./worker');
const { internal, sendHelper } = require('./utils');
const lane = require('./lane');

function setup(cluster) {
  const handles = new Map(); // key -> native or faux handle
  const owners = new Map(); // key -> the net.Server / dgram.Socket using it
  const rrKeys = new Map(); // accept-thread key -> key
  const indexes = new Map();
  let queries = 0; // queryServer requests not answered yet

  Object.assign(cluster, {
    isWorker: true,
    isMaster: false,
    isPrimary: false,
    worker: null,
    Worker,
  });
  for (const key of ['workers', 'settings', 'fork', 'disconnect', 'setupPrimary', 'setupMaster',
    'schedulingPolicy', 'SCHED_NONE', 'SCHED_RR']) delete cluster[key];

  function send(message, cb) {
    return sendHelper(process, message, null, cb);
  }

  cluster._setupWorker = function _setupWorker() {
    const worker = new Worker({
      id: +process.env.CORRAL_CLUSTER_WORKER | 0,
      process,
      state: 'online',
    });
    cluster.worker = worker;
    process.once('disconnect', () => {
      worker.emit('disconnect');
      // Unexpected disconnect (the primary died): exit at once, as Node's workers do.
      if (!worker.exitedAfterDisconnect) process.exit(0);
    });
    process.on('internalMessage', internal(worker, onmessage));
    send({ act: 'online' });

    function onmessage(message) {
      if (message.act === 'disconnect') _disconnect.call(worker, true);
      else if (typeof message.act === 'string' && message.act.startsWith('corral:')) require('./supervised').handle(message, owners, send);
    }
  };

  cluster._getServer = function _getServer(obj, options, cb) {
    let address = options.address;
    if (options.port < 0 && typeof address === 'string') address = path.resolve(address);
    const indexesKey = [address, options.port, options.addressType, options.fd].join(':');
    let indexSet = indexes.get(indexesKey);
    if (indexSet === undefined) {
      indexSet = { nextIndex: 0, set: new Set() };
      indexes.set(indexesKey, indexSet);
    }
    const index = indexSet.nextIndex++;
    indexSet.set.add(index);

    const message = { act: 'queryServer', index, data: null, ...options };
    message.address = address;
    if (obj._getServerData) message.data = obj._getServerData();

    queries++;
    send(message, (reply, handle) => {
      queries--;
      if (typeof obj._setServerData === 'function') obj._setServerData(reply.data);
      if (handle && !reply.rrKey) shared(reply, { handle, indexesKey, index, obj }, cb);
      else rr(reply, handle, { indexesKey, index, obj }, cb);
      if (queries === 0) lane.settled();
    });

    obj.once('listening', () => {
      if (!indexes.has(indexesKey)) return;
      cluster.worker.state = 'listening';
      const addr = obj.address();
      message.act = 'listening';
      message.port = (addr && addr.port) || options.port;
      send(message);
    });
  };

  function removeIndexesKey(indexesKey, index) {
    const indexSet = indexes.get(indexesKey);
    if (!indexSet) return;
    indexSet.set.delete(index);
    if (indexSet.set.size === 0) indexes.delete(indexesKey);
  }

  // A listening socket of our own (shared with other workers, or SO_REUSEPORT).
  function shared(message, { handle, indexesKey, index, obj }, cb) {
    const key = message.key;
    const close = handle.close;
    handle.close = function closeShared(...args) {
      send({ act: 'close', key });
      handles.delete(key);
      owners.delete(key);
      removeIndexesKey(indexesKey, index);
      return close.apply(handle, args);
    };
    handles.set(key, handle);
    owners.set(key, obj);
    cb(message.errno, handle);
  }

  // Round robin: a faux handle; connections come from the primary's accept thread.
  function rr(message, laneHandle, { indexesKey, index, obj }, cb) {
    if (laneHandle) lane.open(laneHandle, onconnection);
    if (message.errno) return cb(message.errno, null);
    let key = message.key;
    let keepAlive = null;
    const handle = {
      close() {
        if (key === undefined) return;
        handle.unref();
        send({ act: 'close', key });
        handles.delete(key);
        owners.delete(key);
        rrKeys.delete(message.rrKey);
        removeIndexesKey(indexesKey, index);
        key = undefined;
      },
      listen() {
        return 0;
      },
      // No native handle keeps the loop alive: a timer does, while the server is ref'ed.
      ref() {
        if (!keepAlive) keepAlive = setInterval(() => {}, 2 ** 31 - 1);
      },
      unref() {
        if (keepAlive) {
          clearInterval(keepAlive);
          keepAlive = null;
        }
      },
    };
    handle.ref();
    if (message.sockname) {
      handle.getsockname = (out) => {
        if (key) Object.assign(out, message.sockname);
        return 0;
      };
    }
    handles.set(key, handle);
    owners.set(key, obj);
    rrKeys.set(message.rrKey, key);
    cb(0, handle);
    lane.known(message.rrKey);
  }

  // A connection from the lane: true when taken. Not taken (false): the lane holds it while
  // a queryServer reply that may name its key is on the way, else hands it back to the
  // primary for another worker (server closed, or over its maxConnections, as Node does).
  function onconnection(rrKey, fd) {
    const key = rrKeys.get(rrKey);
    const server = key === undefined ? undefined : handles.get(key);
    if (server === undefined) return queries > 0 ? lane.WAIT : lane.GIVE_BACK;
    if (overLimit(owners.get(key))) return lane.GIVE_BACK;
    const handle = lane.connectionHandle(fd, typeof owners.get(key)?._pipeName === 'string');
    if (handle !== null) server.onconnection(0, handle);
    return lane.TAKEN;
  }

  // Node 20 counts maxConnections 0 as no limit; Node 24 as a limit, unless the server drops
  // what is over it itself (dropMaxConnection).
  const limitZero = require('../node-line').major >= 22;
  function overLimit(owner) {
    if (!owner || owner._connections < owner.maxConnections) return false;
    return limitZero ? owner.maxConnections != null && !owner.dropMaxConnection : !!owner.maxConnections;
  }

  function _disconnect(primaryInitiated) {
    this.exitedAfterDisconnect = true;
    let waiting = 1;
    function done() {
      if (--waiting !== 0) return;
      if (primaryInitiated) process.disconnect();
      else send({ act: 'exitedAfterDisconnect' }, () => process.disconnect());
    }
    for (const [key, handle] of handles) {
      waiting++;
      const owner = owners.get(key);
      if (owner) owner.close(done);
      else handle.close(done);
    }
    handles.clear();
    owners.clear();
    done();
  }

  Worker.prototype.disconnect = function () {
    if (this.state !== 'disconnecting' && this.state !== 'destroying') {
      this.state = 'disconnecting';
      _disconnect.call(this, false);
    }
    return this;
  };

  Worker.prototype.destroy = function () {
    if (this.state === 'destroying') return;
    this.exitedAfterDisconnect = true;
    if (!this.isConnected()) {
      process.exit(0);
    } else {
      this.state = 'destroying';
      send({ act: 'exitedAfterDisconnect' }, () => process.disconnect());
      process.once('disconnect', () => process.exit(0));
    }
  };

  return cluster;
}

module.exports = { setup };
