'use strict';
// A counting semaphore on two 32-bit words of shared memory: [count, sleepers]. release() only
// enters the kernel when someone may be asleep.
const { rawWait, rawNotify, waitAsync } = require('./atomics');
const { toTimeout, validateInteger } = require('./validate');
const { wordsOf, now } = require('./word');
const region = require('./region');

class Semaphore {
  #a;
  #i;

  // new Semaphore(buffer[, index[, initial]]): uses elements index and index + 1. `initial`
  // sets the count (do it once, before sharing); without it the existing count is used.
  // Without a buffer, a new region.
  constructor(buffer, index, initial) {
    const target = buffer === undefined ? region.create(8) : buffer;
    const { array, index: i } = wordsOf(target, index, 2);
    this.#a = array;
    this.#i = i;
    if (initial !== undefined) {
      validateInteger(initial, 'initial', 0, 2 ** 31 - 1);
      Atomics.store(array, i, initial);
    }
  }

  get buffer() { return this.#a.buffer; }
  get index() { return this.#i; }
  get value() { return Atomics.load(this.#a, this.#i); }

  tryAcquire() {
    const a = this.#a;
    const i = this.#i;
    for (let v = Atomics.load(a, i); v > 0; v = Atomics.load(a, i)) {
      if (Atomics.compareExchange(a, i, v, v - 1) === v) return true;
    }
    return false;
  }

  // Blocks until a unit is taken (true) or `timeout` ms passed (false).
  acquire(timeout) {
    // (Checked first: a bad timeout fails whether or not a unit is free.)
    const ms = timeout === undefined ? Infinity : toTimeout(timeout);
    if (this.tryAcquire()) return true;
    const deadline = ms === Infinity ? Infinity : now() + ms;
    const a = this.#a;
    const i = this.#i;
    for (;;) {
      const left = deadline === Infinity ? Infinity : deadline - now();
      if (left <= 0) return false;
      Atomics.add(a, i + 1, 1);
      rawWait(a, i, 0, left);
      Atomics.sub(a, i + 1, 1);
      if (this.tryAcquire()) return true;
    }
  }

  async acquireAsync(timeout) {
    const ms = timeout === undefined ? Infinity : toTimeout(timeout);
    if (this.tryAcquire()) return true;
    const deadline = ms === Infinity ? Infinity : now() + ms;
    const a = this.#a;
    const i = this.#i;
    for (;;) {
      const left = deadline === Infinity ? Infinity : deadline - now();
      if (left <= 0) return false;
      Atomics.add(a, i + 1, 1);
      try {
        const r = waitAsync(a, i, 0, left);
        if (r.async) await r.value;
      } finally {
        Atomics.sub(a, i + 1, 1);
      }
      if (this.tryAcquire()) return true;
    }
  }

  release(n = 1) {
    validateInteger(n, 'n', 1, 2 ** 31 - 1);
    // The count is an Int32: a release that would carry it past 2^31 - 1 is refused (it would
    // wrap to a negative count that no acquire could take).
    for (;;) {
      const count = Atomics.load(this.#a, this.#i);
      validateInteger(n, 'n', 1, 2 ** 31 - 1 - Math.max(count, 0));
      if (Atomics.compareExchange(this.#a, this.#i, count, count + n) === count) break;
    }
    if (Atomics.load(this.#a, this.#i + 1) > 0) rawNotify(this.#a, this.#i, n);
  }
}

module.exports = { Semaphore };
