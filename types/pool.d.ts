// Types for corral/pool: a task pool with its queue and scheduler in Rust.
/// <reference types="node" />
import { EventEmitter } from 'node:events';
import { URL } from 'node:url';
import { Worker, ResourceLimits, TransferListItem } from './worker_threads';

export interface PoolOptions {
  /** Absolute path, path relative to the working directory, or file: URL of the task file. */
  filename: string | URL;
  /** Workers kept even when idle (default: half the cores, at least 1). */
  minThreads?: number;
  /** Most workers at once (default: 1.5 × the cores). */
  maxThreads?: number;
  /** Milliseconds an idle worker above minThreads waits before it leaves (default 1000). */
  idleTimeout?: number;
  /** Tasks that may wait for a worker; a full queue rejects run() (default Infinity). */
  maxQueue?: number | 'auto';
  /** Tasks one worker runs at once (async tasks; default 1). */
  concurrentTasksPerWorker?: number;
  resourceLimits?: ResourceLimits;
  env?: NodeJS.Dict<string> | typeof import('./worker_threads').SHARE_ENV;
  argv?: any[];
  execArgv?: string[];
  workerData?: any;
  name?: string;
}

export interface RunOptions {
  transferList?: ReadonlyArray<TransferListItem>;
  signal?: AbortSignal | null;
  /** The exported function to call (default: the default export / module.exports). */
  name?: string;
}

/** Durations in milliseconds. */
export interface TimeSummary {
  count: number;
  mean: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
}

export class Pool extends EventEmitter {
  constructor(options: PoolOptions);
  run<T = any>(task: any, options?: RunOptions): Promise<T>;
  /** Lets queued and running tasks finish, then stops the workers. */
  close(): Promise<void>;
  /** Rejects queued and running tasks and stops the workers. */
  destroy(): Promise<void>;
  readonly options: Readonly<Omit<Required<PoolOptions>, 'maxQueue'> & { maxQueue: number }>;
  readonly threads: Worker[];
  readonly queueSize: number;
  readonly completed: number;
  /** Run time of completed tasks / (maxThreads × the pool's lifetime). */
  readonly utilization: number;
  readonly runTime: TimeSummary;
  readonly waitTime: TimeSummary;
  on(event: 'drain', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'workerCreate' | 'workerDestroy', listener: (worker: Worker) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

declare const pool: { Pool: typeof Pool };
export default pool;
