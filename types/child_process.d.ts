// corral/child_process: Node's child_process, with fork() on processes Rust spawns.
// Same signatures as @types/node's child_process where they overlap.
import type * as cp from 'node:child_process';

export type ForkOptions = cp.ForkOptions;
export type ChildProcess = cp.ChildProcess;
export const ChildProcess: typeof cp.ChildProcess;
export function fork(modulePath: string | URL, options?: ForkOptions): ChildProcess;
export function fork(modulePath: string | URL, args?: readonly string[], options?: ForkOptions): ChildProcess;
export const spawn: typeof cp.spawn;
export const exec: typeof cp.exec;
export const execFile: typeof cp.execFile;
export const execSync: typeof cp.execSync;
export const execFileSync: typeof cp.execFileSync;
export const spawnSync: typeof cp.spawnSync;
declare const childProcess: {
  fork: typeof fork;
  spawn: typeof cp.spawn;
  exec: typeof cp.exec;
  execFile: typeof cp.execFile;
  execSync: typeof cp.execSync;
  execFileSync: typeof cp.execFileSync;
  spawnSync: typeof cp.spawnSync;
  ChildProcess: typeof cp.ChildProcess;
};
export default childProcess;
