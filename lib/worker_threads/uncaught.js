'use strict';
// What a worker's uncaught exception becomes in its parent's 'error' event, as Node's workers
// make it (checked against node on each line, __test__/fixtures/uncaught-values.js):
// - an Error (by its tag) with one of the built-in error classes in its prototype chain: a new
//   object of that class in the parent, carrying every string-keyed property the error has or
//   inherits whose value is neither a function nor a symbol, getters read on the error itself,
//   as data properties with their own flags (so `errors` of an AggregateError, `code`, a
//   non-enumerable property all arrive), inherited ones first, and a Symbol.toStringTag 'Error';
//   its `cause` makes the same trip (a cause that leads back to an error on the way: as an
//   object that inspects as it, as Node 26 has it; Node 20 overflows the parent's stack);
// - an object with a util.inspect.custom (its own or inherited: a Buffer, a URL): an object that
//   inspects as the worker saw it;
// - a symbol: the registered symbol of its description;
// - a value v8.serialize takes: v8.deserialize's copy of it, as Node sends it (so a Buffer in it
//   is a Buffer again) (an Error whose properties it cannot take: name, message and stack only);
// - anything else: the text util.inspect gives of it.
const { major } = require('../node-line');

// The classes Node rebuilds in the parent, by name (AggregateError from Node 26), as this
// realm had them when corral loaded.
const classes = { Error, TypeError, RangeError, URIError, SyntaxError, ReferenceError, EvalError };
if (major >= 26) classes.AggregateError = AggregateError;
// (Listed by hand: this loads once an error happened, when the program may have replaced
// Object.keys.)
const classNames = ['Error', 'TypeError', 'RangeError', 'URIError', 'SyntaxError', 'ReferenceError', 'EvalError'];
if (major >= 26) classNames.push('AggregateError');

function builtInClassOf(error) {
  for (let o = error; o !== null; o = Object.getPrototypeOf(o)) {
    const ctor = Object.getOwnPropertyDescriptor(o, 'constructor')?.value;
    const name = ctor ? Object.getOwnPropertyDescriptor(ctor, 'name')?.value : undefined;
    if (classNames.includes(name)) return name;
  }
  return undefined;
}

// Descriptors of the values an error has and inherits (see above), inherited ones first.
function readProperties(error) {
  const levels = [];
  for (let o = error; o !== null; o = Object.getPrototypeOf(o)) levels.unshift(o);
  const properties = {};
  for (const level of levels) {
    for (const key of Object.getOwnPropertyNames(level)) {
      if (key === '__proto__') continue;
      let descriptor;
      try {
        descriptor = Object.getOwnPropertyDescriptor(level, key);
        if (descriptor.get !== undefined) descriptor = { ...descriptor, value: descriptor.get.call(error) };
      } catch {
        continue;  // (a getter that throws: left out)
      }
      // (A cause of any kind makes the trip on its own, below: a symbol or a function too.)
      if (!('value' in descriptor) ||
          (key !== 'cause' && (typeof descriptor.value === 'function' || typeof descriptor.value === 'symbol'))) {
        continue;
      }
      const { value, writable = false, enumerable, configurable } = descriptor;
      properties[key] = { value, writable, enumerable, configurable };
    }
  }
  return properties;
}

// In the worker: the message payload for `error`.
// Each way is tried in turn; one that throws (a proxy's trap, a getter) gives way to the next.
function forParent(error, seen = new Set()) {
  const { serialize } = require('v8');
  const { inspect } = require('util');
  if (seen.has(error)) return { kind: 'inspect', text: inspect(error) };
  try {
    if (typeof error === 'object' && error !== null && Object.prototype.toString.call(error) === '[object Error]') {
      const className = builtInClassOf(error);
      if (className !== undefined) {
        const properties = readProperties(error);
        if (properties.cause !== undefined) {
          seen.add(error);
          properties.cause.value = forParent(properties.cause.value, seen);
        }
        return { kind: 'error', className, properties: serialize(properties) };
      }
    }
  } catch {}
  try {
    // (`in` throws for a primitive: it goes on to the next way)
    if (error !== null && error !== undefined && inspect.custom in error) {
      return { kind: 'inspect', text: inspect(error) };
    }
  } catch {}
  if (typeof error === 'symbol') return { kind: 'symbol', key: error.description ?? '' };
  try {
    return { kind: 'value', bytes: serialize(error) };
  } catch {
    return { kind: 'text', text: inspect(error) };
  }
}

// In the parent: what the 'error' event carries.
function fromWorker(payload) {
  switch (payload.kind) {
    case 'error': {
      const Class = classes[payload.className] ?? Error;
      const properties = require('v8').deserialize(payload.properties);
      if (properties.cause !== undefined) properties.cause.value = fromWorker(properties.cause.value);
      properties[Symbol.toStringTag] = { value: 'Error', configurable: true };
      return Object.create(Class.prototype, properties);
    }
    case 'inspect': {
      const { text } = payload;
      return { __proto__: null, [require('util').inspect.custom]: () => text };
    }
    case 'symbol':
      return Symbol.for(payload.key);
    case 'text':
      return payload.text;
    default:
      return require('v8').deserialize(payload.bytes);
  }
}

module.exports = { forParent, fromWorker };
