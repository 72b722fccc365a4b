import { createRequire } from 'node:module';

const supervisor = createRequire(import.meta.url)('./lib/supervisor/index.js');

export default supervisor;
export const { Supervisor, start, socketPath, request } = supervisor;
