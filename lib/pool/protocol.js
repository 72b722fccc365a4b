'use strict';
// What a pool worker tells its pool: the ready signal (over parentPort) and how a task ended
// (the `kind` of a result, carried by Rust beside the value).
module.exports = {
  // Sent once the task file is loaded and the worker takes tasks.
  kReady: 'corral:pool:ready',
  kFailed: 0,
  kDone: 1,
  // Failed with [error, ownProperties]: the structured clone of an Error keeps only its name,
  // message and stack, so `code` & co. travel beside it.
  kFailedWithProps: 2,
};
