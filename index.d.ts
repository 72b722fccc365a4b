// Types for the package root. Each module is also typed at its own subpath
// (corral/worker_threads, corral/cluster, corral/child_process, corral/shared, corral/pool).
import * as workerThreads from './types/worker_threads';
import * as shared from './types/shared';
import * as childProcess from './types/child_process';
import cluster from './types/cluster';
import * as pool from './types/pool';

export { workerThreads, shared, childProcess, cluster, pool };
export { Pool } from './types/pool';
export { Worker, MessageChannel, MessagePort, BroadcastChannel } from './types/worker_threads';
