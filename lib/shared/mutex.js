'use strict';
// A mutex on one 32-bit word of shared memory, usable from any thread of any process that maps
// it. 0 = unlocked, 1 = locked, 2 = locked and someone may be sleeping (Drepper's futex mutex):
// taking and releasing an uncontended lock never leaves JS; only contention reaches the kernel.
// Not owner-tracked and not robust: a holder that dies leaves it locked.
const { makeError } = require('../errors');
const { rawWait, rawNotify, waitAsync } = require('./atomics');
const { toTimeout } = require('./validate');
const { wordsOf, now } = require('./word');
const region = require('./region');

const kSpin = 100;

class Mutex {
  #a;
  #i;

  // new Mutex(buffer[, index]): buffer is a SharedArrayBuffer or Int32Array; the lock is the
  // Int32 element `index` (default 0), which must start at 0. Without a buffer, a new region.
  constructor(buffer, index) {
    const target = buffer === undefined ? region.create(4) : buffer;
    const { array, index: i } = wordsOf(target, index, 1);
    this.#a = array;
    this.#i = i;
  }

  get buffer() { return this.#a.buffer; }
  get index() { return this.#i; }
  get locked() { return Atomics.load(this.#a, this.#i) !== 0; }

  tryLock() {
    return Atomics.compareExchange(this.#a, this.#i, 0, 1) === 0;
  }

  // Blocks until locked (true) or `timeout` ms passed (false).
  lock(timeout) {
    // (Checked first: a bad timeout fails whether or not the lock is free.)
    const ms = timeout === undefined ? Infinity : toTimeout(timeout);
    const a = this.#a;
    const i = this.#i;
    let c = Atomics.compareExchange(a, i, 0, 1);
    if (c === 0) return true;
    for (let k = 0; k < kSpin; k++) {
      if (Atomics.load(a, i) === 0 && (c = Atomics.compareExchange(a, i, 0, 1)) === 0) return true;
    }
    const deadline = ms === Infinity ? Infinity : now() + ms;
    if (c !== 2) c = Atomics.exchange(a, i, 2);
    while (c !== 0) {
      const left = deadline === Infinity ? Infinity : deadline - now();
      if (left <= 0) return false;
      rawWait(a, i, 2, left);
      c = Atomics.exchange(a, i, 2);
    }
    return true;
  }

  // Like lock(), without blocking the event loop. Resolves true, or false on timeout.
  async lockAsync(timeout) {
    const ms = timeout === undefined ? Infinity : toTimeout(timeout);
    const a = this.#a;
    const i = this.#i;
    let c = Atomics.compareExchange(a, i, 0, 1);
    if (c === 0) return true;
    const deadline = ms === Infinity ? Infinity : now() + ms;
    if (c !== 2) c = Atomics.exchange(a, i, 2);
    while (c !== 0) {
      const left = deadline === Infinity ? Infinity : deadline - now();
      if (left <= 0) return false;
      const r = waitAsync(a, i, 2, left);
      if (r.async) await r.value;
      c = Atomics.exchange(a, i, 2);
    }
    return true;
  }

  unlock() {
    const prev = Atomics.exchange(this.#a, this.#i, 0);
    if (prev === 0) {
      throw makeError(Error, 'ERR_CORRAL_MUTEX_NOT_LOCKED', 'The mutex is not locked');
    }
    if (prev === 2) rawNotify(this.#a, this.#i, 1);
  }

  // Runs fn() holding the lock (sync lock; if fn returns a promise, unlocks when it settles).
  withLock(fn) {
    this.lock();
    let result;
    try {
      result = fn();
    } catch (err) {
      this.unlock();
      throw err;
    }
    if (result && typeof result.then === 'function') {
      return Promise.resolve(result).finally(() => this.unlock());
    }
    this.unlock();
    return result;
  }
}

module.exports = { Mutex };
