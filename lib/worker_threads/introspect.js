'use strict';
// The worker's side of what its parent asks about it (worker.getHeapSnapshot(), cpuUsage(),
// getHeapStatistics(), startCpuProfile(), startHeapProfile()): answered on the worker's own
// thread when its event loop gets to the request, over the control port.
const v8 = require('v8');
const { makeError } = require('../errors');

let native;
const cpuProfiles = new Map();  // id -> v8's handle, or the title of the shim's profile
let heapProfile = null;         // v8's handle, or true for the shim's sampling

const handlers = {
  heapSnapshot(options) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      const stream = v8.getHeapSnapshot(options);
      stream.on('data', (chunk) => chunks.push(chunk));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
    });
  },

  // (Answered by src/shim/questions.cc, unless the worker had no environment to ask then.)
  heapStatistics() {
    const stats = v8.getHeapStatistics();
    return { ...stats, does_zap_garbage: stats.does_zap_garbage !== 0 };  // a boolean, as Node's worker gives
  },

  // This thread's CPU time (getrusage of the thread).
  cpuUsage() {
    return process.threadCpuUsage();
  },

  // `v8.startCpuProfile` where the line has it (Node's own profile JSON); the shim's elsewhere.
  cpuProfileStart({ id, title, options }) {
    if (typeof v8.startCpuProfile === 'function') {
      cpuProfiles.set(id, options === undefined ? v8.startCpuProfile() : v8.startCpuProfile(options));
      return undefined;
    }
    if (!native.profiler.cpuStart(title)) {
      throw makeError(Error, 'ERR_CPU_PROFILE_ALREADY_STARTED', 'CPU profile already started');
    }
    cpuProfiles.set(id, title);
    return undefined;
  },

  cpuProfileStop({ id }) {
    const profile = cpuProfiles.get(id);
    cpuProfiles.delete(id);
    if (profile === undefined) return undefined;
    return typeof profile === 'string' ? native.profiler.cpuStop(profile) : profile.stop();
  },

  // options: Node 26's sampling options, already checked by the parent (else undefined).
  heapProfileStart(options) {
    if (heapProfile !== null || (typeof v8.startHeapProfile !== 'function' && !native.profiler.heapStart())) {
      throw makeError(Error, 'ERR_HEAP_PROFILE_HAVE_BEEN_STARTED', 'heap profiler have been started');
    }
    heapProfile = typeof v8.startHeapProfile === 'function' ? v8.startHeapProfile(options) : true;
    return undefined;
  },

  heapProfileStop() {
    const profile = heapProfile;
    heapProfile = null;
    if (profile === null) return undefined;
    return profile === true ? native.profiler.heapStop() : profile.stop();
  },
};

// Answers one request: { type: 'request', id, op, args } -> { type: 'reply', id, value | error }.
async function answer(control, nativeBinding, { id, op, args }) {
  native = nativeBinding;
  let reply;
  try {
    reply = { type: 'reply', id, value: await handlers[op](args) };
  } catch (error) {
    // V8 clones an Error without its own fields: `code` & co. travel beside it.
    reply = { type: 'reply', id, error, props: error !== null && typeof error === 'object' ? { ...error } : undefined };
  }
  control.postMessage(reply);
}

module.exports = { answer };
