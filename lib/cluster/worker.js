'use strict';
// The Worker object, common to the primary and worker sides.
const EventEmitter = require('events');

// A function, not a class: as Node's, `cluster.Worker.call(obj, options)` makes a Worker too.
function Worker(options) {
  if (!(this instanceof Worker)) return new Worker(options);
  EventEmitter.call(this);
  if (options === null || typeof options !== 'object') options = {};
  this.exitedAfterDisconnect = undefined;
  this.state = options.state || 'none';
  this.id = options.id | 0;
  if (options.process) {
    this.process = options.process;
    // A bad IPC frame from the worker is reported, never thrown (channel.js): a warning when
    // the Worker has no 'error' listener of its own.
    this.process.on('error', (code, signal) => {
      if (code?.code === 'ERR_CORRAL_IPC_BAD_FRAME' && this.listenerCount('error') === 0) process.emitWarning(code);
      else this.emit('error', code, signal);
    });
    this.process.on('message', (message, handle) => this.emit('message', message, handle));
  }
}
Object.setPrototypeOf(Worker.prototype, EventEmitter.prototype);
Object.setPrototypeOf(Worker, EventEmitter);

Worker.prototype.kill = function (...args) {
  return this.destroy(...args);
};

Worker.prototype.send = function (...args) {
  return this.process.send(...args);
};

Worker.prototype.isDead = function () {
  return this.process.exitCode != null || this.process.signalCode != null;
};

Worker.prototype.isConnected = function () {
  return this.process.connected;
};

module.exports = Worker;
