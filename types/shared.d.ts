// Types for corral/shared: memory shared by the threads and processes of a program.

export interface CreateOptions {
  /** Register the region under this name (≤ 200 bytes, no '/'); other processes of the program open it by name. */
  name?: string;
  /** Make a POSIX shm object `/dev/shm/corral.<name>` (mode 0600) instead; needs `name`. */
  posix?: boolean;
}

export interface OpenOptions {
  /** Open the POSIX shm object `/dev/shm/corral.<name>`. */
  posix?: boolean;
}

export interface RegionInfo {
  kind: 'memfd' | 'posix';
  name: string | undefined;
  size: number;
  /** This process's fd for the region (pass it through spawn's stdio; open with fromFd). */
  fd: number;
  /** A string another process opens with fromHandle while this process holds the region. */
  handle: string;
}

/** A new zero-filled region of `size` bytes (1 .. 2^32), as a real SharedArrayBuffer. */
export function create(size: number, options?: CreateOptions): SharedArrayBuffer;
/** The region created under `name` (throws ERR_CORRAL_SHARED_NOT_FOUND if there is none). */
export function open(name: string, options?: OpenOptions): SharedArrayBuffer;
/** The region whose `handle(buffer)` string this is. */
export function fromHandle(handle: string): SharedArrayBuffer;
/** Maps the region open as `fd` (e.g. inherited through spawn's stdio); the fd stays the caller's. */
export function fromFd(fd: number): SharedArrayBuffer;
export function describe(buffer: SharedArrayBuffer): RegionInfo;
export function handle(buffer: SharedArrayBuffer): string;
export function isRegion(value: unknown): value is SharedArrayBuffer;
/** Removes a name; memory stays mapped wherever it is open. False if the name did not exist. */
export function unlink(name: string, options?: OpenOptions): boolean;
/** Names registered in the program's directory. */
export function names(): string[];

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';
/** Like Atomics.wait, across processes (process-shared futex). Blocks the calling thread. */
export function wait(typedArray: Int32Array, index: number, value: number, timeout?: number): WaitResult;
/** Wakes up to `count` (default all) waiters in any process or thread; returns how many woke. */
export function notify(typedArray: Int32Array, index: number, count?: number): number;
/** Like Atomics.waitAsync, across processes; a pending wait keeps the event loop alive. */
export function waitAsync(typedArray: Int32Array, index: number, value: number, timeout?: number):
  { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

export class Mutex {
  /** The lock is Int32 element `index` (default 0) of `buffer`; a new region if omitted. */
  constructor(buffer?: SharedArrayBuffer | Int32Array, index?: number);
  readonly buffer: SharedArrayBuffer;
  readonly index: number;
  readonly locked: boolean;
  tryLock(): boolean;
  lock(timeout?: number): boolean;
  lockAsync(timeout?: number): Promise<boolean>;
  unlock(): void;
  withLock<T>(fn: () => T): T;
}

export class Semaphore {
  /** Uses Int32 elements `index` and `index + 1`; `initial` sets the count. */
  constructor(buffer?: SharedArrayBuffer | Int32Array, index?: number, initial?: number);
  readonly buffer: SharedArrayBuffer;
  readonly index: number;
  readonly value: number;
  tryAcquire(): boolean;
  acquire(timeout?: number): boolean;
  acquireAsync(timeout?: number): Promise<boolean>;
  release(n?: number): void;
}

export type Bytes = string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

/** Multi-producer, single-consumer channel of byte messages over shared memory. */
export class Channel implements AsyncIterable<Buffer> {
  /** capacity: ring bytes, rounded up to a power of two (64 .. 2^30; default 1 MiB). */
  static create(capacity?: number, options?: CreateOptions): Channel;
  static open(name: string, options?: OpenOptions): Channel;
  constructor(buffer: SharedArrayBuffer);
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly maxMessageSize: number;
  readonly closed: boolean;
  readonly pending: number;
  trySend(data: Bytes): boolean;
  send(data: Bytes, timeout?: number): boolean;
  sendAsync(data: Bytes, timeout?: number): Promise<boolean>;
  tryRecv(): Buffer | undefined;
  recv(timeout?: number): Buffer | null;
  recvAsync(timeout?: number): Promise<Buffer | null>;
  close(): void;
  [Symbol.asyncIterator](): AsyncIterator<Buffer>;
}

export const constants: {
  readonly MAX_SIZE: number;
  readonly MAX_NAME_BYTES: number;
  readonly ENV_DIRECTORY: string;
};
