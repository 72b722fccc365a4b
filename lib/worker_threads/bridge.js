'use strict';
// Ports of Node's own and ports of corral's work wherever either kind is accepted. A port of the
// other kind in a transfer list is bridged: a fresh channel of the accepting kind takes its
// place, and the bridged port and the near end of that channel pass each other's messages (and
// close together). The bridge never keeps a thread alive by itself.
const line = require('./line');

let corralPorts;
const corral = () => (corralPorts ??= require('./port'));

const isNodePort = (value) => {
  const NodePort = line.nodeMessagePort();
  return NodePort !== undefined && value instanceof NodePort;
};
const isCorralPort = (value) => value instanceof corral().MessagePort;

// Passes what `from` receives on to `to`; ports that came with a message travel on (as ports of
// `to`'s kind), and so do objects that transferred themselves (a FileHandle).
function pump(from, to) {
  from.addEventListener('message', ({ data, ports }) => {
    try {
      const transferred = isNodePort(to) && data !== null && typeof data === 'object' ?
        corral().takeMadeJsTransferables(data) : [];
      if (transferred.length > 0) to.postMessage(...forNode(data, [...ports, ...transferred]));
      else if (ports.length === 0) to.postMessage(data);
      else if (isNodePort(to)) to.postMessage(...forNode(data, ports));
      else to.postMessage(data, ports);
    } catch {}
  });
  from.on('close', () => to.close());
  from.unref();
}

// A port of Node's own, as a corral port to transfer in its place.
function fromNodePort(nodePort) {
  const { port1: near, port2: far } = new (corral().MessageChannel)();
  pump(nodePort, near);
  pump(near, nodePort);
  return far;
}

// A corral port, as a port of Node's own to hand to Node's machinery in its place (the corral
// port keeps working: both carry the channel's messages).
function toNodePort(corralPort) {
  const { port1: near, port2: far } = new line.builtin.MessageChannel();
  pump(corralPort, near);
  pump(near, corralPort);
  return far;
}

// The same value with every occurrence of a replaced port swapped (plain objects and arrays,
// as loader hooks and similar callers pass them); other values are kept as they are.
function substitute(value, replaced, seen = new Map()) {
  if (replaced.has(value)) return replaced.get(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value);
  if (Array.isArray(value)) {
    const copy = [];
    seen.set(value, copy);
    for (const item of value) copy.push(substitute(item, replaced, seen));
    return copy;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  const copy = {};
  seen.set(value, copy);
  for (const key of Object.keys(value)) copy[key] = substitute(value[key], replaced, seen);
  return copy;
}

// Hands (value, transferList) to Node's own machinery: corral ports in the list become bridged
// Node ports, in the list and in the value. Returns [value, transferList].
function forNode(value, transferList) {
  if (!Array.isArray(transferList) || !transferList.some(isCorralPort)) return [value, transferList];
  const replaced = new Map();
  const list = transferList.map((item) => {
    if (!isCorralPort(item)) return item;
    const nodePort = toNodePort(item);
    replaced.set(item, nodePort);
    return nodePort;
  });
  return [substitute(value, replaced), list];
}

module.exports = { isNodePort, isCorralPort, fromNodePort, toNodePort, forNode, substitute };
