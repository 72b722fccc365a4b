import { createRequire } from 'node:module';

const cluster = createRequire(import.meta.url)('./lib/load.js')('cluster');

export default cluster;
export const {
  isPrimary, isMaster, isWorker, Worker, workers, worker, settings, SCHED_NONE, SCHED_RR,
  schedulingPolicy, setupPrimary, setupMaster, fork, disconnect,
} = cluster;
