import { createRequire } from 'node:module';

const cp = createRequire(import.meta.url)('./lib/child_process/index.js');

export default cp;
export const {
  fork, spawn, exec, execFile, execSync, execFileSync, spawnSync, ChildProcess, _forkChild,
} = cp;
