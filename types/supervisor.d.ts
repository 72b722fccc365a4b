// corral/supervisor: the `corral` command's supervision, in code.
import { EventEmitter } from 'node:events';
import type { Worker } from 'node:cluster';

export interface RestartOptions {
  /** First delay before a restart (doubles with each quick exit). Default 100. */
  minDelayMs?: number;
  /** Longest delay. Default 10000. */
  maxDelayMs?: number;
  /** A worker up this long resets the backoff. Default 5000. */
  stableMs?: number;
  /** Quick exits in a row after which a slot is a crash loop and stops restarting. Default 5. */
  maxCrashes?: number;
}

export interface SupervisorOptions {
  /** The program to run in each worker (unmodified; it runs under corral/register). */
  script: string;
  args?: string[];
  /** Number of workers. Default: available parallelism. */
  instances?: number;
  /** Name of the app (its control socket). Default: the script's base name. */
  name?: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** A worker over this resident size is replaced gracefully. */
  maxMemoryMB?: number;
  /** How long a retiring worker may take to finish its requests before it is killed. Default 10000. */
  drainTimeoutMs?: number;
  /** How long a new worker may take to listen. Default 10000. */
  readyTimeoutMs?: number;
  restart?: RestartOptions;
  /** Pipe worker stdout/stderr (emitted as 'worker-output'; dropped when nobody listens) instead of sharing the primary's. */
  silent?: boolean;
  /** Serve the control socket (`corral status|reload|stop NAME`). Default true. */
  control?: boolean;
  /** "HOST:PORT" for Prometheus' GET /metrics. */
  metrics?: string;
}

export interface WorkerStatus {
  slot: number;
  id: number | null;
  pid: number | null;
  state: 'starting' | 'online' | 'restarting' | 'replacing' | 'crash-loop';
  uptimeMs: number;
  restarts: number;
  cpuPercent: number | null;
  rssBytes: number | null;
  connectionsOpen: number | null;
  connectionsServed: number | null;
}

export interface Status {
  name: string;
  pid: number;
  script: string;
  state: 'starting' | 'running' | 'stopping' | 'stopped';
  uptimeMs: number;
  metricsPort: number | null;
  workers: WorkerStatus[];
}

export class Supervisor extends EventEmitter {
  constructor(options: SupervisorOptions);
  readonly name: string;
  readonly socketPath?: string;
  readonly metricsPort?: number | null;
  start(): Promise<this>;
  /** Rolling reload: each worker's replacement listens before it drains. */
  reload(): Promise<{ reloaded: number }>;
  /** Drains and ends every worker. */
  stop(): Promise<void>;
  status(): Promise<Status>;
  on(event: 'started' | 'stop' | 'all-crashed', listener: () => void): this;
  on(event: 'worker-listening' | 'worker-output', listener: (slot: { index: number }, worker: Worker) => void): this;
  on(event: 'worker-exit', listener: (slot: { index: number }, worker: Worker, code: number | null, signal: string | null) => void): this;
  on(event: 'restart', listener: (slot: { index: number; restarts: number }, delayMs: number) => void): this;
  on(event: 'crash-loop', listener: (slot: { index: number }) => void): this;
  on(event: 'max-memory', listener: (slot: { index: number }, rssBytes: number) => void): this;
  on(event: 'reload', listener: (replaced: Array<[number, number]>) => void): this;
  /** A reload whose replacement failed (the old workers go on serving). */
  on(event: 'reload-failed', listener: (error: Error) => void): this;
  /** A worker still alive `ms` after it disconnected got SIGTERM / one past the drain timeout was killed. */
  on(event: 'worker-lingering' | 'worker-killed', listener: (worker: Worker, ms: number) => void): this;
  on(event: string, listener: (...args: any[]) => void): this;
}

export function start(options: SupervisorOptions): Promise<Supervisor>;
/** The control socket of the app `name`. */
export function socketPath(name: string): string;
/** Sends a control request ({ cmd: 'status' | 'reload' | 'stop' }) to the app `name`. */
export function request(name: string, message: { cmd: string }, options?: { timeoutMs?: number }): Promise<any>;
