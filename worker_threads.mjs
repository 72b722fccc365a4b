import { createRequire } from 'node:module';

const wt = createRequire(import.meta.url)('./lib/load.js')('worker_threads');

export default wt;
export const {
  Worker, MessageChannel, MessagePort, receiveMessageOnPort, BroadcastChannel, markAsUntransferable,
  isMarkedAsUntransferable, SHARE_ENV,
  setEnvironmentData, getEnvironmentData, isMainThread, parentPort, workerData, threadId,
  resourceLimits,
} = wt;
