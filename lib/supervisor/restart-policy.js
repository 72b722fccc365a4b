'use strict';
// When to restart a worker that exited unasked: exponential backoff, reset once a worker has
// stayed up `stableMs`; more than `maxCrashes` quick exits in a row is a crash loop, and the
// slot stops restarting.
class RestartPolicy {
  constructor({ minDelayMs = 100, maxDelayMs = 10000, stableMs = 5000, maxCrashes = 5 } = {}) {
    Object.assign(this, { minDelayMs, maxDelayMs, stableMs, maxCrashes });
    this.quickExits = 0;
  }

  // { delayMs } to restart after, or { crashLoop: true }.
  onExit(uptimeMs) {
    if (uptimeMs >= this.stableMs) this.quickExits = 0;
    this.quickExits++;
    if (this.quickExits > this.maxCrashes) return { crashLoop: true };
    return { delayMs: Math.min(this.maxDelayMs, this.minDelayMs * 2 ** (this.quickExits - 1)) };
  }
}

module.exports = { RestartPolicy };
