'use strict';
// Errors shaped like Node's internal ones: the built-in class, a `code`, a stack and toString()
// reading `TypeError [CODE]: message`.
const { inspect } = require('util');

// The stack starts where Node's would: Node's errors start at its API function (its helpers
// are hidden), so of the corral frames on top (the helpers that checked and made the error,
// this file's included) only the last, the API function the program called, is kept.
const libDir = `${require('path').dirname(__filename)}/`;
const kHiddenFramesMax = 8;

function makeError(Base, code, message) {
  const limit = Error.stackTraceLimit;
  const counted = typeof limit === 'number' && limit > 0 && limit < Infinity;
  if (counted) Error.stackTraceLimit = limit + kHiddenFramesMax;
  const err = new Base(message);
  if (counted) Error.stackTraceLimit = limit;
  Object.defineProperty(err, 'name', { value: `${Base.name} [${code}]`, configurable: true, writable: true });
  const stack = err.stack; // captured with the code in its first line, as Node's are
  if (typeof stack === 'string') {
    const lines = stack.split('\n');
    const first = lines.findIndex((line) => line.startsWith('    at '));
    if (first >= 0) {
      let api = first;
      while (api + 1 < lines.length && lines[api + 1].includes(libDir)) api++;
      const frames = lines.slice(api);
      err.stack = [...lines.slice(0, first), ...(counted ? frames.slice(0, limit) : frames)].join('\n');
    }
  }
  delete err.name;
  err.code = code;
  Object.defineProperty(err, 'toString', {
    value() { return `${this.name} [${code}]: ${this.message}`; },
    configurable: true, writable: true,
  });
  return err;
}

function describeReceived(value) {
  if (value == null) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${value.name}`;
  if (typeof value === 'object') {
    if (value.constructor?.name) return ` Received an instance of ${value.constructor.name}`;
    return ` Received ${inspect(value, { depth: -1 })}`;
  }
  if (typeof value === 'bigint') return ` Received type bigint (${value}n)`;  // never shortened, as Node's
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

function joinList(items, last = 'or') {
  if (items.length <= 2) return items.join(` ${last} `);
  return `${items.slice(0, -1).join(', ')}, ${last} ${items[items.length - 1]}`;
}

const kTypes = new Set(['string', 'function', 'number', 'object', 'boolean', 'bigint', 'symbol']);

// ERR_INVALID_ARG_TYPE with Node's wording: `expected` mixes type names ('string') and class
// names ('URL', 'Array').
function invalidArgType(name, expected, actual) {
  const list = Array.isArray(expected) ? expected : [expected];
  const what = name.includes('.') ? 'property' : 'argument';
  let msg = `The ${name.endsWith(' argument') ? name : `"${name}" ${what}`} must be `;
  const types = list.filter((t) => kTypes.has(t.toLowerCase()));
  const classes = list.filter((t) => !kTypes.has(t.toLowerCase()));
  const parts = [];
  if (types.length) parts.push(`${types.length > 1 ? 'one of type' : 'of type'} ${joinList(types)}`);
  if (classes.length) parts.push(`${classes.length > 1 ? 'an instance of' : 'an instance of'} ${joinList(classes)}`);
  msg += parts.join(' or ') + '.' + describeReceived(actual);
  return makeError(TypeError, 'ERR_INVALID_ARG_TYPE', msg);
}

function invalidArgValue(name, value, reason = 'is invalid') {
  const what = name.includes('.') ? 'property' : 'argument';
  return makeError(TypeError, 'ERR_INVALID_ARG_VALUE',
    `The ${what} '${name}' ${reason}. Received ${inspect(value)}`);
}

function addSeparators(n) {
  const s = String(n);
  if (!Number.isInteger(n) || Math.abs(n) <= 2 ** 32) return s;
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, '_');
}

// ERR_OUT_OF_RANGE with Node's wording (large integers shown with _ separators).
function outOfRange(name, range, value) {
  const shown = typeof value === 'number' ? addSeparators(value) : String(value);
  return makeError(RangeError, 'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${shown}`);
}

module.exports = { makeError, describeReceived, invalidArgType, invalidArgValue, outOfRange };
