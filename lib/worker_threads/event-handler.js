'use strict';
// What this line's event handler attributes (`onmessage`...) do with odd values and receivers,
// read from one of Node's own: AbortSignal's `onabort`, made by the same internal helper as a
// MessagePort's. Node 20-24 keep any value set; Node 26 keeps functions and objects and turns
// anything else into null. Node 20 refuses a receiver that is not an EventTarget with
// ERR_INVALID_ARG_TYPE, later lines with ERR_INVALID_THIS.
let nodeHandler;  // AbortSignal.prototype's onabort descriptor, once read
let keepsPrimitives;

function nodeOnabort() {
  nodeHandler ??= Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'onabort') ?? null;
  return nodeHandler;
}

// The value the attribute holds once `value` is set.
function handlerValue(value) {
  if (typeof value === 'function' || (typeof value === 'object' && value !== null)) return value;
  if (keepsPrimitives === undefined) {
    const descriptor = nodeOnabort();
    if (descriptor === null) {
      keepsPrimitives = true;
    } else {
      const signal = new AbortController().signal;
      descriptor.set.call(signal, 5);
      keepsPrimitives = descriptor.get.call(signal) === 5;
    }
  }
  return keepsPrimitives ? value : null;
}

// Throws Node's error for a receiver that is not an EventTarget.
function checkEventTarget(receiver, makeFallback) {
  if (receiver instanceof EventTarget) return;
  nodeOnabort()?.get.call(receiver);
  throw makeFallback();
}

module.exports = { handlerValue, checkEventTarget };
