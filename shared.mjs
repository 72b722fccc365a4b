import { createRequire } from 'node:module';

const shared = createRequire(import.meta.url)('./lib/load.js')('shared');

export default shared;
export const {
  create, open, fromHandle, fromFd, describe, handle, isRegion, unlink, names,
  wait, notify, waitAsync, Mutex, Semaphore, Channel, constants,
} = shared;
