'use strict';
// Argument checks for corral/shared, throwing Node-shaped errors (lib/errors.js).
const { types } = require('util');
const { invalidArgType, invalidArgValue, outOfRange } = require('../errors');

// Largest region: what a SharedArrayBuffer may hold here (Node 20: 4 GiB).
const kMaxSize = 2 ** 32;
const kMaxName = 200;

function validateInteger(value, name, min, max) {
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  return value;
}

function validateSize(size, name = 'size') {
  return validateInteger(size, name, 1, kMaxSize);
}

function validateName(name, argName = 'name') {
  if (typeof name !== 'string') throw invalidArgType(argName, 'string', name);
  if (name.length === 0) throw invalidArgValue(argName, name, 'must not be empty');
  if (name.includes('/')) throw invalidArgValue(argName, name, "must not contain '/'");
  if (name.includes('\0')) throw invalidArgValue(argName, name, 'must not contain null bytes');
  if (Buffer.byteLength(name) > kMaxName) {
    throw invalidArgValue(argName, name, `must be at most ${kMaxName} bytes long`);
  }
  return name;
}

function validateObject(value, name) {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'Object', value);
  return value;
}

function validateBoolean(value, name) {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'boolean', value);
  return value;
}

// An Int32Array over a SharedArrayBuffer, and an index inside it.
function validateWord(array, index, arrayName = 'typedArray') {
  if (!types.isInt32Array(array)) throw invalidArgType(arrayName, 'Int32Array', array);
  if (!types.isSharedArrayBuffer(array.buffer)) {
    throw invalidArgValue(arrayName, array, 'must be backed by a SharedArrayBuffer');
  }
  if (typeof index !== 'number') throw invalidArgType('index', 'number', index);
  if (!Number.isInteger(index) || index < 0 || index >= array.length) {
    throw outOfRange('index', `>= 0 && < ${array.length}`, index);
  }
}

function validateSab(value, name = 'buffer') {
  if (!types.isSharedArrayBuffer(value)) throw invalidArgType(name, 'SharedArrayBuffer', value);
  return value;
}

// A timeout in milliseconds: undefined/NaN = forever, negative = 0 (as in Atomics.wait).
function toTimeout(value, name = 'timeout') {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if (Number.isNaN(value)) return Infinity;
  return Math.max(0, value);
}

// A wake count: undefined = all, negative = 0 (as in Atomics.notify).
function toCount(value, name = 'count') {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if (Number.isNaN(value)) return 0;
  return Math.max(0, Math.trunc(value));
}

module.exports = {
  kMaxSize, kMaxName, outOfRange, validateInteger, validateSize, validateName, validateObject,
  validateBoolean, validateWord, validateSab, toTimeout, toCount,
};
