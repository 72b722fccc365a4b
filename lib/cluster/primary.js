'use strict';
// The primary side of corral's cluster: workers are processes Rust spawns (child_process.fork
// here), listening sockets are made in Rust and shared by the schedule in ./handles.
const EventEmitter = require('events');
const path = require('path');
const { fork } = require('../child_process/fork');
const Worker = require('./worker');
const { RoundRobinHandle, SharedHandle, ReusePortHandle } = require('./handles');
const { internal, sendHelper } = require('./utils');
const { makeError, describeReceived } = require('../errors');
const { kBadFrame } = require('../child_process/channel');

const SCHED_NONE = 1;
const SCHED_RR = 2;
const SCHED_REUSEPORT = 3;
const registerPath = path.join(__dirname, '..', '..', 'register.js');

function policyFromEnv(value) {
  if (value === 'rr') return SCHED_RR;
  if (value === 'none') return SCHED_NONE;
  if (value === 'reuseport') return SCHED_REUSEPORT;
  return SCHED_RR;
}

function setup(cluster) {
  const handles = new Map();
  const intercom = new EventEmitter();
  let ids = 0;
  let initialized = false;
  let schedulingPolicy = policyFromEnv(process.env.NODE_CLUSTER_SCHED_POLICY);

  Object.assign(cluster, {
    isWorker: false,
    isMaster: true,
    isPrimary: true,
    Worker,
    workers: {},
    settings: {},
    SCHED_NONE,
    SCHED_RR,
    SCHED_REUSEPORT,
    schedulingPolicy,
  });

  cluster.setupPrimary = function (options) {
    const settings = {
      args: process.argv.slice(2),
      exec: process.argv[1],
      execArgv: process.execArgv,
      silent: false,
      ...cluster.settings,
      ...options,
    };
    // Not validated here (Node's fork() is where a bad execArgv fails), but read as Node reads
    // it, generically: null or undefined throws Node's TypeError before anything is set.
    const some = (list, prefix) => Array.prototype.some.call(list, (arg) => String.prototype.startsWith.call(arg, prefix));
    if (some(settings.execArgv, '--prof') && !some(settings.execArgv, '--logfile=')) {
      settings.execArgv = [...settings.execArgv, '--logfile=v8-%p.log'];
    }
    cluster.settings = settings;
    if (initialized) {
      process.nextTick(() => cluster.emit('setup', settings));
      return;
    }
    initialized = true;
    schedulingPolicy = cluster.schedulingPolicy === 'reuseport' ? SCHED_REUSEPORT : cluster.schedulingPolicy;
    if (![SCHED_NONE, SCHED_RR, SCHED_REUSEPORT].includes(schedulingPolicy)) {
      // Node's own check is an internal assertion: its error, word for word.
      throw makeError(Error, 'ERR_INTERNAL_ASSERTION', `Bad cluster.schedulingPolicy: ${schedulingPolicy}\n` +
        'This is caused by either a bug in Node.js or incorrect usage of Node.js internals.\n' +
        'Please open an issue with this stack trace at https://github.com/nodejs/node/issues\n');
    }
    process.nextTick(() => cluster.emit('setup', settings));
  };
  cluster.setupMaster = cluster.setupPrimary;

  function createWorkerProcess(id, env) {
    const workerEnv = { ...process.env, ...env, CORRAL_CLUSTER_WORKER: `${id}` };
    if (cluster.settings.inspectPort === null) {
      throw makeError(RangeError, 'ERR_SOCKET_BAD_PORT', 'Port should be >= 0 and < 65536. Received null.');
    }
    // The worker's cluster, net and dgram must be corral's: preload the register hook (unless
    // the worker's NODE_OPTIONS loads it already: then its execArgv stays the program's, as Node's).
    const execArgv = [...cluster.settings.execArgv];
    const nodeOptions = typeof workerEnv.NODE_OPTIONS === 'string' ? workerEnv.NODE_OPTIONS : '';
    const inNodeOptions = nodeOptions.includes(registerPath) || /(^|[\s=])corral\/register(\.m?js)?(\s|$)/.test(nodeOptions);
    // (Injected, it is out of sight as in Node: the worker's register takes it out of its
    // process.execArgv, and spawnargs here go without it.)
    const injected = !execArgv.includes(registerPath) && !inNodeOptions;
    if (injected) {
      execArgv.unshift('--require', registerPath);
      workerEnv.CORRAL_REGISTER_INJECTED = '1';
    }
    if (usesInspector(cluster.settings.execArgv)) {
      execArgv.push(`--inspect-port=${inspectPortFor(cluster.settings.inspectPort)}`);
    }
    const child = fork(cluster.settings.exec, cluster.settings.args, {
      cwd: cluster.settings.cwd,
      env: workerEnv,
      serialization: cluster.settings.serialization,
      silent: cluster.settings.silent,
      windowsHide: cluster.settings.windowsHide,
      execArgv,
      stdio: cluster.settings.stdio,
      gid: cluster.settings.gid,
      uid: cluster.settings.uid,
      // No death signal: as Node's, a worker whose primary has gone sees its channel close and
      // exits (lib/cluster/child.js), running its 'exit' handlers (a SIGKILL would skip them).
      // The worker side (lib/cluster/child.js) runs on Node's own process channel.
      childChannel: false,
    });
    if (injected && Array.isArray(child.spawnargs) && child.spawnargs[1] === '--require') child.spawnargs.splice(1, 2);
    return child;
  }

  // As Node: under an inspector flag (execArgv or NODE_OPTIONS), each worker gets its own
  // inspector port: settings.inspectPort (a port, or a function returning one), else the
  // primary's debug port plus one more per worker, wrapping past 65535 to 1024.
  const inspectFlag = /--inspect(?:-brk|-port)?|--debug-port/;
  let nextInspectOffset = 1;
  function usesInspector(execArgv) {
    return execArgv.some((a) => inspectFlag.test(a)) || inspectFlag.test(process.env.NODE_OPTIONS);
  }
  function inspectPortFor(setting) {
    let port = setting;
    if (typeof setting === 'function') port = setting();
    else if (setting == null) {
      port = process.debugPort + nextInspectOffset++;
      if (port > 65535) port = port - 65535 + 1023;
    }
    const bad = (typeof port !== 'number' && typeof port !== 'string') ||
      (typeof port === 'string' && port.trim() === '') || +port !== (+port >>> 0) || port > 0xFFFF;
    if (bad) {
      throw makeError(RangeError, 'ERR_SOCKET_BAD_PORT',
        `Port should be >= 0 and < 65536.${describeReceived(port)}.`);
    }
    return port;
  }

  function removeWorker(worker) {
    delete cluster.workers[worker.id];
    if (Object.keys(cluster.workers).length === 0) intercom.emit('disconnect');
  }

  function removeHandlesForWorker(worker) {
    for (const [key, handle] of handles) {
      if (handle.remove(worker)) handles.delete(key);
    }
  }

  cluster.fork = function (env) {
    cluster.setupPrimary();
    const id = ++ids;
    const workerProcess = createWorkerProcess(id, env);
    const worker = new Worker({ id, process: workerProcess });

    worker.on('message', function onMessage(message, handle) {
      cluster.emit('message', this, message, handle);
    });

    worker.process.once('exit', (exitCode, signalCode) => {
      // Keep a connected worker listed: it may still be talked to.
      if (!worker.isConnected()) {
        removeHandlesForWorker(worker);
        removeWorker(worker);
      }
      worker.exitedAfterDisconnect = !!worker.exitedAfterDisconnect;
      worker.state = 'dead';
      worker.emit('exit', exitCode, signalCode);
      cluster.emit('exit', worker, exitCode, signalCode);
    });

    worker.process.once('disconnect', () => {
      removeHandlesForWorker(worker);
      if (worker.isDead()) removeWorker(worker);
      worker.exitedAfterDisconnect = !!worker.exitedAfterDisconnect;
      worker.state = 'disconnected';
      worker.emit('disconnect');
      cluster.emit('disconnect', worker);
    });

    worker.process.on('internalMessage', internal(worker, onmessage));
    process.nextTick(() => cluster.emit('fork', worker));
    cluster.workers[worker.id] = worker;
    return worker;
  };

  cluster.disconnect = function (cb) {
    const workers = Object.values(cluster.workers);
    if (workers.length === 0) {
      process.nextTick(() => intercom.emit('disconnect'));
    } else {
      for (const worker of workers) {
        if (worker.isConnected()) worker.disconnect();
      }
    }
    if (typeof cb === 'function') intercom.once('disconnect', cb);
  };

  const methods = { close, exitedAfterDisconnect, listening, online, queryServer };

  function onmessage(message) {
    const fn = methods[message.act];
    if (typeof fn !== 'function') return;
    // A worker writing bytes of its own can send cluster messages of any shape: one that is not
    // what corral's worker side sends is a bad frame of that worker's channel (reported, the
    // worker disconnected), never an exception in the primary.
    const wrong = malformed(message);
    if (wrong !== null) {
      this.process[kBadFrame]?.(new Error(`cluster message '${message.act}' with ${wrong}`));
      return;
    }
    fn(this, message);
  }

  const isIntOrAbsent = (v) => v === undefined || v === null || Number.isInteger(v);
  function malformed(message) {
    if (message.act !== 'queryServer' && message.act !== 'listening') return null;
    // (dgram's bind passes on the port it was given: a string, or absent)
    const udp = message.addressType === 'udp4' || message.addressType === 'udp6';
    if (!(isIntOrAbsent(message.port) || (udp && typeof message.port === 'string'))) return 'no valid port';
    if (!(message.address == null || typeof message.address === 'string')) return 'no valid address';
    // (listen({ fd }) in a worker asks with no address type: Node's net sends null there)
    const byFd = Number.isInteger(message.fd) && message.fd >= 0 && message.addressType == null;
    if (!(byFd || Number.isInteger(message.addressType) || message.addressType === 'udp4' || message.addressType === 'udp6')) {
      return 'no valid addressType';
    }
    if (!isIntOrAbsent(message.fd) || !isIntOrAbsent(message.index)) return 'no valid fd or index';
    // (backlog is false when the server gave none)
    if (!(isIntOrAbsent(message.backlog) || message.backlog === false)) return 'no valid backlog';
    return null;
  }

  function online(worker) {
    worker.state = 'online';
    worker.emit('online');
    cluster.emit('online', worker);
  }

  function exitedAfterDisconnect(worker, message) {
    worker.exitedAfterDisconnect = true;
    send(worker, { ack: message.seq });
  }

  function queryServer(worker, message) {
    if (worker.exitedAfterDisconnect) return;
    const key = `${message.address}:${message.port}:${message.addressType}:${message.fd}:${message.index}`;
    let handle = handles.get(key);
    if (handle === undefined) {
      const udp = message.addressType === 'udp4' || message.addressType === 'udp6';
      let address = message.address;
      // Shortest path for unix sockets (sun_path is ~100 bytes).
      if (message.port < 0 && typeof address === 'string') {
        address = path.relative(process.cwd(), address);
        if (message.address.length < address.length) address = message.address;
      }
      try {
        const ownFd = Number.isInteger(message.fd) && message.fd >= 0;
        if (udp || ownFd || schedulingPolicy === SCHED_NONE) handle = new SharedHandle(key, address, message);
        else if (schedulingPolicy === SCHED_REUSEPORT && message.port >= 0) handle = new ReusePortHandle(key, address, message);
        else handle = new RoundRobinHandle(key, address, message);
      } catch (error) {
        // Values no worker of corral's sends (the native listen refused them).
        worker.process[kBadFrame]?.(error);
        return;
      }
      handles.set(key, handle);
    }
    if (!handle.data) handle.data = message.data;
    // `workerOnly`: the error is this worker's (the handle still serves the others).
    handle.add(worker, (errno, reply, native, workerOnly) => {
      const { data } = handles.get(key) || handle;
      if (errno && !workerOnly) handles.delete(key);
      send(worker, { errno, key, ack: message.seq, data, ...reply }, native);
    });
  }

  function listening(worker, message) {
    const info = {
      addressType: message.addressType,
      address: message.address,
      port: message.port,
      fd: message.fd,
    };
    worker.state = 'listening';
    worker.emit('listening', info);
    cluster.emit('listening', worker, info);
  }

  function close(worker, message) {
    const handle = handles.get(message.key);
    if (handle && handle.remove(worker)) handles.delete(message.key);
  }

  function send(worker, message, handle, cb) {
    return sendHelper(worker.process, message, handle, cb);
  }

  Worker.prototype.disconnect = function () {
    this.exitedAfterDisconnect = true;
    send(this, { act: 'disconnect' });
    removeHandlesForWorker(this);
    removeWorker(this);
    return this;
  };

  Worker.prototype.destroy = function (signo) {
    this.process.kill(signo || 'SIGTERM');
  };

  // corral's methods, for corral/register to put back on Node's own cluster object if a preload
  // that ran after corral had set up (in a worker thread, corral sets up first) replaced them.
  Object.defineProperty(cluster, Symbol.for('corral.cluster.methods'), {
    value: { setupPrimary: cluster.setupPrimary, setupMaster: cluster.setupMaster, fork: cluster.fork, disconnect: cluster.disconnect },
    configurable: true,
  });
  return cluster;
}

module.exports = { setup, SCHED_NONE, SCHED_RR, SCHED_REUSEPORT };
