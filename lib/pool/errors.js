'use strict';
// The pool's own errors (Node-shaped: class, code, message).
const { makeError } = require('../errors');

const closed = () => makeError(Error, 'ERR_CORRAL_POOL_CLOSED', 'The pool is closed');
const destroyed = () => makeError(Error, 'ERR_CORRAL_POOL_DESTROYED', 'The pool was destroyed');
const queueFull = (limit) =>
  makeError(Error, 'ERR_CORRAL_POOL_QUEUE_FULL', `Task queue is at limit (maxQueue: ${limit})`);
const workerExited = (code) =>
  makeError(Error, 'ERR_CORRAL_POOL_WORKER_EXITED', `The worker running the task exited with code ${code}`);
const workerExitedAtStart = (code) =>
  makeError(Error, 'ERR_CORRAL_POOL_WORKER_EXITED',
    `A pool worker exited with code ${code} while loading the task file, before it could take tasks`);

// Like Node's AbortError (lib/internal/errors): name 'AbortError', code 'ABORT_ERR'.
function aborted(reason) {
  const error = new Error('The task has been aborted', reason === undefined ? undefined : { cause: reason });
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  return error;
}

module.exports = { closed, destroyed, queueFull, workerExited, workerExitedAtStart, aborted };
