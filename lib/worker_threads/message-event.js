'use strict';
// The global MessageEvent under the register: Node's own, except that `source` and `ports` may
// also be corral's MessagePorts (Node's constructor checks for its own ports natively, and the
// program's global MessageChannel is corral's). Events of Node's own are still instances.
const { makeError } = require('../errors');

let made = null;

function messageEventFor(NodeMessageEvent) {
  if (made !== null) return made;
  const isCorralPort = (value) => {
    const { native } = require('../binding');
    return native.isPort(value);
  };
  const notAPort = (name, value) => {
    const { describeReceived } = require('../errors');
    return makeError(TypeError, 'ERR_INVALID_ARG_TYPE',
      `The "${name}" property must be an instance of MessagePort.${describeReceived(value)}`);
  };

  class MessageEvent extends NodeMessageEvent {
    constructor(type, init) {
      const source = init?.source;
      const portsGiven = init != null && init.ports !== undefined && init.ports !== null;
      const ports = portsGiven ? [...init.ports] : [];
      const corralSource = source !== undefined && source !== null && isCorralPort(source);
      const corralPorts = ports.some((port) => isCorralPort(port));
      if (!corralSource && !corralPorts) {
        if (arguments.length === 0) super();
        else super(type, init);
        return;
      }
      // Node's checks for everything else; corral's ports are checked here.
      if (corralPorts) {
        ports.forEach((port, i) => {
          const NodePort = require('./line').nodeMessagePort();
          if (!isCorralPort(port) && !(NodePort !== undefined && port instanceof NodePort)) {
            throw notAPort(`init.ports[${i}]`, port);
          }
        });
      }
      super(type, { ...init, source: corralSource ? null : source, ports: corralPorts ? [] : ports });
      if (corralSource) Object.defineProperty(this, 'source', { value: source, configurable: true });
      if (corralPorts) Object.defineProperty(this, 'ports', { value: ports, configurable: true });
    }

    static [Symbol.hasInstance](value) {
      return value instanceof NodeMessageEvent;
    }
  }
  made = MessageEvent;
  return made;
}

module.exports = { messageEventFor };
