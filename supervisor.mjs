import { createRequire } from 'node:module';

const supervisor = createRequire(import.meta.url)('./lib/load.js')('supervisor');

export default supervisor;
export const { Supervisor, start, socketPath, request } = supervisor;
