// Types for the package root. Each module is also typed at its own subpath
// (corral/worker_threads -> types/worker_threads.d.ts).
import * as workerThreads from './types/worker_threads';

export { workerThreads };
export { Worker, MessageChannel, MessagePort } from './types/worker_threads';
