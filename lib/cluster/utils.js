'use strict';
// Cluster's internal messages ride on the IPC channel as {cmd: 'NODE_CLUSTER', ...} (so they
// arrive as 'internalMessage', never 'message'); a reply carries `ack` = the request's `seq`.
const callbacks = new Map();
let seq = 0;

function sendHelper(proc, message, handle, cb) {
  if (!proc.connected) return false;
  message = { cmd: 'NODE_CLUSTER', ...message, seq };
  if (typeof cb === 'function') callbacks.set(seq, cb);
  seq += 1;
  return proc.send(message, handle);
}

// Wraps `cb` as an 'internalMessage' listener that also resolves replies.
function internal(worker, cb) {
  return function onInternalMessage(message, handle) {
    if (message.cmd !== 'NODE_CLUSTER') return;
    let fn = cb;
    if (message.ack !== undefined) {
      const reply = callbacks.get(message.ack);
      if (reply !== undefined) {
        fn = reply;
        callbacks.delete(message.ack);
      }
    }
    fn.apply(worker, arguments);
  };
}

module.exports = { sendHelper, internal };
