'use strict';
// A multi-producer, single-consumer channel of byte messages over shared memory.
//
// Layout: a 64-byte header of Int32 words, then a ring of `capacity` bytes (a power of two).
// Senders reserve space by advancing `tail` with compare-and-swap, copy their bytes, then
// publish the record by storing its length word (length + 1) last. The receiver reads records
// in order at `head`, copies them out, zeroes them and advances `head`. A record that would
// cross the end of the ring is preceded by a padding marker (-1) and starts at offset 0.
// Sleeping uses the process-shared futex. The receiver, before sleeping, reads a doorbell word,
// raises its "sleeping" flag and re-checks; the first sender to find the flag raised clears it,
// rings the doorbell (increments it) and wakes the receiver: one system call per sleep, not per
// message. Senders short of space sleep on `head`; the receiver wakes them once the ring is at
// most half full. Both sides spin briefly first. Positions are 32-bit and wrap; only their
// differences matter.
const { types } = require('util');
const { makeError, invalidArgType, invalidArgValue } = require('../errors');
const { rawWait, rawNotify, waitAsync } = require('./atomics');
const { toTimeout, validateInteger, validateSab, outOfRange } = require('./validate');
const { now } = require('./word');
const region = require('./region');

const MAGIC = 0x43524348; // "CRCH"
const W_MAGIC = 0;
const W_CAPACITY = 1;
const W_TAIL = 2;
const W_HEAD = 3;
const W_RECV_SLEEPING = 4;
const W_SEND_SLEEPING = 5;
const W_CLOSED = 6;
const W_BELL = 7;
const HEADER = 64;
const PAD = -1;
const kSpin = 50; // tries before sleeping (long spins lose on a busy machine)
const kSmall = 64; // below this many bytes, copy with a loop (cheaper than TypedArray#set)

function closedError() {
  return makeError(Error, 'ERR_CORRAL_CHANNEL_CLOSED', 'The channel is closed');
}

function toBytes(data) {
  if (typeof data === 'string') return Buffer.from(data);
  if (types.isUint8Array(data)) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (types.isAnyArrayBuffer(data)) return new Uint8Array(data);
  throw invalidArgType('data', ['string', 'Buffer', 'TypedArray', 'DataView', 'ArrayBuffer'], data);
}

class Channel {
  #i32;
  #u8;
  #cap;
  #mask;
  #maxMessage;

  // Channel.create([capacity[, { name, posix }]]): a new channel whose ring holds `capacity`
  // bytes (rounded up to a power of two, 64 B .. 1 GiB; default 1 MiB).
  static create(capacity = 1 << 20, options) {
    validateInteger(capacity, 'capacity', 64, 2 ** 30);
    let cap = 64;
    while (cap < capacity) cap *= 2;
    const sab = region.create(HEADER + cap, options);
    const i32 = new Int32Array(sab, 0, HEADER / 4);
    Atomics.store(i32, W_CAPACITY, cap);
    Atomics.store(i32, W_MAGIC, MAGIC);
    return new Channel(sab);
  }

  // Channel.open(name[, { posix }]): the channel created under that name.
  static open(name, options) {
    return new Channel(region.open(name, options));
  }

  // new Channel(buffer): attach to a channel's SharedArrayBuffer (channel.buffer elsewhere).
  constructor(buffer) {
    validateSab(buffer, 'buffer');
    const header = buffer.byteLength >= HEADER ? new Int32Array(buffer, 0, HEADER / 4) : null;
    const cap = header && Atomics.load(header, W_CAPACITY);
    if (!header || Atomics.load(header, W_MAGIC) !== MAGIC || cap < 64 || (cap & (cap - 1)) !== 0 ||
        HEADER + cap > buffer.byteLength) {
      throw invalidArgValue('buffer', buffer, 'is not a corral/shared channel');
    }
    this.#i32 = new Int32Array(buffer, 0, (HEADER + cap) / 4);
    this.#u8 = new Uint8Array(buffer, 0, HEADER + cap);
    this.#cap = cap;
    this.#mask = cap - 1;
    this.#maxMessage = cap / 2 - 4;
  }

  get buffer() { return this.#i32.buffer; }
  get capacity() { return this.#cap; }
  // Largest message this channel carries, in bytes.
  get maxMessageSize() { return this.#maxMessage; }
  get closed() { return Atomics.load(this.#i32, W_CLOSED) !== 0; }
  // Bytes reserved by senders and not yet consumed (records include a 4-byte header).
  get pending() {
    return (Atomics.load(this.#i32, W_TAIL) - Atomics.load(this.#i32, W_HEAD)) >>> 0;
  }

  // Closes the channel: sends throw, the receiver gets what is queued, then null.
  close() {
    const i32 = this.#i32;
    Atomics.store(i32, W_CLOSED, 1);
    Atomics.add(i32, W_BELL, 1);
    rawNotify(i32, W_BELL, Infinity);
    rawNotify(i32, W_HEAD, Infinity);
  }

  #check(data) {
    const bytes = toBytes(data);
    if (bytes.byteLength > this.#maxMessage) {
      throw outOfRange('data.byteLength', `<= ${this.#maxMessage}`, bytes.byteLength);
    }
    if (Atomics.load(this.#i32, W_CLOSED) !== 0) throw closedError();
    return bytes;
  }

  // Reserves and writes one record; returns false when there is not enough room, else true.
  // (The 'seen head' of a failed attempt is returned through #lastHead for sleeping on it.)
  #lastHead = 0;
  #put(bytes) {
    const i32 = this.#i32;
    const cap = this.#cap;
    const len = bytes.byteLength;
    const need = 4 + ((len + 3) & ~3);
    for (;;) {
      const tail = Atomics.load(i32, W_TAIL);
      const head = Atomics.load(i32, W_HEAD);
      const off = tail & this.#mask;
      const wraps = off + need > cap;
      const total = wraps ? cap - off + need : need;
      if (((tail - head) >>> 0) + total > cap) {
        this.#lastHead = head;
        return false;
      }
      if (Atomics.compareExchange(i32, W_TAIL, tail, (tail + total) | 0) !== tail) continue;
      const start = wraps ? 0 : off;
      const at = HEADER + start + 4;
      if (len <= kSmall) {
        const u8 = this.#u8;
        for (let k = 0; k < len; k++) u8[at + k] = bytes[k];
      } else {
        this.#u8.set(bytes, at);
      }
      Atomics.store(i32, (HEADER + start) >> 2, len + 1);
      if (wraps) Atomics.store(i32, (HEADER + off) >> 2, PAD);
      if (Atomics.load(i32, W_RECV_SLEEPING) !== 0 && Atomics.exchange(i32, W_RECV_SLEEPING, 0) !== 0) {
        Atomics.add(i32, W_BELL, 1);
        rawNotify(i32, W_BELL, 1);
      }
      return true;
    }
  }

  // Sends without blocking: false if the ring is full.
  trySend(data) {
    return this.#put(this.#check(data));
  }

  // Sends, blocking while the ring is full: true, or false if `timeout` ms passed first.
  send(data, timeout) {
    const bytes = this.#check(data);
    if (this.#put(bytes)) return true;
    for (let k = 0; k < kSpin; k++) if (this.#put(bytes)) return true;
    const ms = toTimeout(timeout);
    const deadline = ms === Infinity ? Infinity : now() + ms;
    const i32 = this.#i32;
    for (;;) {
      const left = deadline === Infinity ? Infinity : deadline - now();
      if (left <= 0) return false;
      Atomics.add(i32, W_SEND_SLEEPING, 1);
      const sent = this.#put(bytes);
      if (!sent) rawWait(i32, W_HEAD, this.#lastHead, left);
      Atomics.sub(i32, W_SEND_SLEEPING, 1);
      if (sent) return true;
      if (Atomics.load(i32, W_CLOSED) !== 0) throw closedError();
      if (this.#put(bytes)) return true;
    }
  }

  // Like send() without blocking the event loop.
  async sendAsync(data, timeout) {
    const bytes = this.#check(data);
    if (this.#put(bytes)) return true;
    const ms = toTimeout(timeout);
    const deadline = ms === Infinity ? Infinity : now() + ms;
    const i32 = this.#i32;
    for (;;) {
      const left = deadline === Infinity ? Infinity : deadline - now();
      if (left <= 0) return false;
      Atomics.add(i32, W_SEND_SLEEPING, 1);
      try {
        if (this.#put(bytes)) return true;
        const r = waitAsync(i32, W_HEAD, this.#lastHead, left);
        if (r.async) await r.value;
      } finally {
        Atomics.sub(i32, W_SEND_SLEEPING, 1);
      }
      if (Atomics.load(i32, W_CLOSED) !== 0) throw closedError();
      if (this.#put(bytes)) return true;
    }
  }

  // Takes the next message if one is ready: a Buffer, or undefined.
  tryRecv() {
    const i32 = this.#i32;
    for (;;) {
      const head = Atomics.load(i32, W_HEAD);
      const off = head & this.#mask;
      const lenWord = (HEADER + off) >> 2;
      const w = Atomics.load(i32, lenWord);
      if (w === 0) return undefined;
      let next;
      let out;
      if (w === PAD) {
        next = (head + (this.#cap - off)) | 0;
      } else {
        const len = w - 1;
        const start = HEADER + off + 4;
        const padded = (len + 3) & ~3;
        out = Buffer.allocUnsafe(len);
        if (len <= kSmall) {
          const u8 = this.#u8;
          for (let k = 0; k < len; k++) out[k] = u8[start + k];
          for (let k = start >> 2, end = (start + padded) >> 2; k < end; k++) i32[k] = 0;
        } else {
          out.set(this.#u8.subarray(start, start + len));
          this.#u8.fill(0, start, start + padded);
        }
        next = (head + 4 + padded) | 0;
      }
      Atomics.store(i32, lenWord, 0);
      Atomics.store(i32, W_HEAD, next);
      // Wake sleeping senders once the ring is at most half full (not on every message).
      if (Atomics.load(i32, W_SEND_SLEEPING) !== 0 &&
          ((Atomics.load(i32, W_TAIL) - next) >>> 0) <= this.#cap / 2) {
        rawNotify(i32, W_HEAD, Infinity);
      }
      if (out !== undefined) return out;
    }
  }

  // Receives the next message (Buffer), blocking; null once the channel is closed and drained,
  // or when `timeout` ms pass first.
  recv(timeout) {
    let msg = this.tryRecv();
    if (msg !== undefined) return msg;
    for (let k = 0; k < kSpin; k++) {
      if ((msg = this.tryRecv()) !== undefined) return msg;
    }
    const ms = toTimeout(timeout);
    const deadline = ms === Infinity ? Infinity : now() + ms;
    const i32 = this.#i32;
    for (;;) {
      if ((msg = this.tryRecv()) !== undefined) return msg;
      if (Atomics.load(i32, W_CLOSED) !== 0) return this.tryRecv() ?? null;
      const left = deadline === Infinity ? Infinity : deadline - now();
      if (left <= 0) return null;
      const lenWord = (HEADER + (Atomics.load(i32, W_HEAD) & this.#mask)) >> 2;
      const bell = Atomics.load(i32, W_BELL);
      Atomics.store(i32, W_RECV_SLEEPING, 1);
      if (Atomics.load(i32, lenWord) === 0 && Atomics.load(i32, W_CLOSED) === 0) {
        rawWait(i32, W_BELL, bell, left);
      }
      Atomics.store(i32, W_RECV_SLEEPING, 0);
    }
  }

  // Like recv() without blocking the event loop.
  async recvAsync(timeout) {
    let msg = this.tryRecv();
    if (msg !== undefined) return msg;
    const ms = toTimeout(timeout);
    const deadline = ms === Infinity ? Infinity : now() + ms;
    const i32 = this.#i32;
    for (;;) {
      if ((msg = this.tryRecv()) !== undefined) return msg;
      if (Atomics.load(i32, W_CLOSED) !== 0) return this.tryRecv() ?? null;
      const left = deadline === Infinity ? Infinity : deadline - now();
      if (left <= 0) return null;
      const lenWord = (HEADER + (Atomics.load(i32, W_HEAD) & this.#mask)) >> 2;
      const bell = Atomics.load(i32, W_BELL);
      Atomics.store(i32, W_RECV_SLEEPING, 1);
      try {
        if (Atomics.load(i32, lenWord) === 0 && Atomics.load(i32, W_CLOSED) === 0) {
          const r = waitAsync(i32, W_BELL, bell, left);
          if (r.async) await r.value;
        }
      } finally {
        Atomics.store(i32, W_RECV_SLEEPING, 0);
      }
    }
  }

  // Async iteration: for await (const msg of channel) ... ends when the channel is closed.
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const msg = await this.recvAsync();
      if (msg === null) return;
      yield msg;
    }
  }
}

module.exports = { Channel };
