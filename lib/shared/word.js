'use strict';
// Resolves the (buffer, index) pair that locks, semaphores and channels live on.
const { types } = require('util');
const { invalidArgType, invalidArgValue } = require('../errors');
const { validateWord, validateInteger } = require('./validate');

// target: an Int32Array over a SharedArrayBuffer, or the SharedArrayBuffer itself (viewed as
// Int32Array). `words` consecutive elements from `index` are used.
function wordsOf(target, index, words, name = 'buffer') {
  let array = target;
  if (types.isSharedArrayBuffer(target)) {
    array = new Int32Array(target, 0, Math.floor(target.byteLength / 4));
  } else if (!types.isInt32Array(target)) {
    throw invalidArgType(name, ['SharedArrayBuffer', 'Int32Array'], target);
  }
  if (array.length < words) {
    throw invalidArgValue(name, target, `must hold at least ${words} Int32 element${words === 1 ? '' : 's'} (${words * 4} bytes)`);
  }
  const i = index === undefined ? 0 : index;
  validateInteger(i, 'index', 0, 2 ** 31);
  validateWord(array, i, name);
  validateWord(array, i + words - 1, name);
  return { array, index: i };
}

function now() {
  return performance.now();
}

module.exports = { wordsOf, now };
