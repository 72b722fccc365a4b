'use strict';
// corral/shared: memory shared by the threads and processes of a program, as real
// SharedArrayBuffers, with cross-process wait/notify, a mutex, a semaphore and a byte channel.
const region = require('./region');
const { wait, notify, waitAsync } = require('./atomics');
const { Mutex } = require('./mutex');
const { Semaphore } = require('./semaphore');
const { Channel } = require('./channel');
const { kMaxSize, kMaxName } = require('./validate');

module.exports = {
  create: region.create,
  open: region.open,
  fromHandle: region.fromHandle,
  fromFd: region.fromFd,
  describe: region.describe,
  handle: region.handle,
  isRegion: region.isRegion,
  unlink: region.unlink,
  names: region.names,
  wait,
  notify,
  waitAsync,
  Mutex,
  Semaphore,
  Channel,
  constants: Object.freeze({ MAX_SIZE: kMaxSize, MAX_NAME_BYTES: kMaxName, ENV_DIRECTORY: region.kEnvDir }),
};
