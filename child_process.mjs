import { createRequire } from 'node:module';

const cp = createRequire(import.meta.url)('./lib/load.js')('child_process');

export default cp;
export const {
  fork, spawn, exec, execFile, execSync, execFileSync, spawnSync, ChildProcess, _forkChild,
} = cp;
