'use strict';
// What a pool worker tells its pool over parentPort (tasks and results go through Rust).
module.exports = {
  // Sent once the task file is loaded and the worker takes tasks.
  kReady: 'corral:pool:ready',
};
