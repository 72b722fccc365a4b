'use strict';
// Preloaded (`--require`, first) into a child that corral's fork() starts with the same node
// binary: the child's end of the IPC channel is corral's too (Rust framing, the messages of one
// tick in one write), in place of the Node channel Node would have made from NODE_CHANNEL_FD.
// Everything else about the child is Node's; the preload leaves no trace in process.execArgv
// or process.env.
// The real process, held here: a program may replace globalThis.process (Node's own code keeps
// its reference too).
const process = require('process');
const fd = Number(process.env.CORRAL_CHANNEL_FD);
const mode = process.env.NODE_CHANNEL_SERIALIZATION_MODE || 'json';
// The channel's doorbell page (src/ipc/bell.rs): mapped by corral's end, closed otherwise.
let bellFd = process.env.CORRAL_BELL_FD === undefined ? -1 : Number(process.env.CORRAL_BELL_FD);
if (!Number.isInteger(bellFd)) bellFd = -1;
// As Node does with NODE_CHANNEL_FD: not inherited by this child's own children.
delete process.env.CORRAL_CHANNEL_FD;
delete process.env.CORRAL_BELL_FD;
delete process.env.NODE_CHANNEL_SERIALIZATION_MODE;
const at = process.execArgv.indexOf(__filename);
if (at > 0 && process.execArgv[at - 1] === '--require') process.execArgv.splice(at - 1, 2);

if (Number.isInteger(fd) && fd >= 0 && !process.send) {
  let setupChildChannel;
  try {
    ({ setupChildChannel } = require('./channel'));
  } catch {
    // The addon cannot load here: Node's own channel on the same fd.
    require('child_process')._forkChild(fd, mode);
  }
  if (setupChildChannel) {
    setupChildChannel(fd, mode, bellFd);
    bellFd = -1;
  }
  // corral's modules stay out of the program's require.cache listing, as in workers (see
  // worker_threads/code-cache.js): found by require, not listed.
  const cache = module.constructor._cache ?? require.cache;
  const lib = require('path').dirname(__dirname) + require('path').sep;
  for (const key of Object.keys(cache)) {
    if (key.startsWith(lib)) Object.defineProperty(cache, key, { enumerable: false });
  }
}
if (bellFd >= 0) {
  try {
    require('fs').closeSync(bellFd);
  } catch {}
}
