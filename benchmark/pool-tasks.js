'use strict';
// Task file for benchmark/pool.js (the same file for corral, piscina and tinypool).
module.exports = ({ a, b }) => a + b;

// About 1 ms of CPU on this machine: fixed work, not a clock, so every pool does the same.
module.exports.medium = (n) => {
  let x = 0;
  for (let i = 0; i < 400000; i++) x += Math.sqrt(i + n);
  return x;
};
