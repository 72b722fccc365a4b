import { createRequire } from 'node:module';

const pool = createRequire(import.meta.url)('./lib/load.js')('pool');

export default pool;
export const { Pool } = pool;
