import { createRequire } from 'node:module';

const pool = createRequire(import.meta.url)('./lib/pool/index.js');

export default pool;
export const { Pool } = pool;
