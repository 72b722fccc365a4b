'use strict';
// A cluster worker under corral's supervisor (`corral start`, corral/supervisor) answers two
// internal messages of its primary: 'corral:stats' (connections open now and taken since start)
// and 'corral:drain' (sent before a graceful disconnect: HTTP keep-alive connections are ended
// between requests, never in the middle of one, so the worker can finish and exit).
const lane = require('./lane');

const DRAIN_POLL_MS = 50;
// Connections idle this long into a drain are closed: a client that had one in use has sent its
// next request by then (and was answered with `Connection: close`). Closing an idle connection
// sooner races a request the client may be sending on it (ECONNRESET).
const DRAIN_GRACE_MS = 1000;

function stats(owners) {
  let open = 0;
  for (const server of owners.values()) open += server._connections | 0;
  return { open, taken: lane.takenCount() };
}

// Node's list of an HTTP server's connections (not public; used only if it is there).
function connectionsOf(server) {
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
  const list = key && server[key];
  return list && typeof list.active === 'function' ? list : null;
}

function drain(owners) {
  for (const server of new Set(owners.values())) {
    if (typeof server.closeIdleConnections !== 'function' || server.corralDraining) continue;
    server.corralDraining = true;
    // Answers not begun yet, and requests still to come on open connections, go out with
    // `Connection: close`...
    for (const socket of connectionsOf(server)?.active() ?? []) {
      const res = socket._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
    server.on('request', (req, res) => { res.shouldKeepAlive = false; });
    // ...and what stays idle past the grace period is closed. Not before: server.close() (the
    // disconnect that follows) closes idle connections at once, and a connection just accepted
    // whose request has not been read yet counts as idle.
    server.closeIdleConnections = function closeIdleConnectionsLater() {};
    const grace = setTimeout(() => {
      delete server.closeIdleConnections;
      server.closeIdleConnections();
      const poll = setInterval(() => server.closeIdleConnections(), DRAIN_POLL_MS);
      poll.unref();
      server.once('close', () => clearInterval(poll));
    }, DRAIN_GRACE_MS);
    grace.unref();
    server.once('close', () => clearTimeout(grace));
  }
}

// Handles `message` if it is the supervisor's; true then.
function handle(message, owners, send) {
  if (message.act === 'corral:stats') {
    send({ act: 'corral:stats', ack: message.seq, ...stats(owners) });
    return true;
  }
  if (message.act === 'corral:drain') {
    drain(owners);
    return true;
  }
  return false;
}

module.exports = { handle };
