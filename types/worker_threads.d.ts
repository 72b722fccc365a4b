// Types for corral/worker_threads: the same signatures as @types/node's `worker_threads`.
/// <reference types="node" />
import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { URL } from 'node:url';

export const isMainThread: boolean;
export const parentPort: null | MessagePort;
export const threadId: number;
export const workerData: any;
export const resourceLimits: ResourceLimits;
export const SHARE_ENV: unique symbol;

export type Transferable = ArrayBuffer | MessagePort;
export type TransferListItem = Transferable;

export interface StructuredSerializeOptions {
  transfer?: ReadonlyArray<TransferListItem> | undefined;
}

export class MessageChannel {
  readonly port1: MessagePort;
  readonly port2: MessagePort;
}

export class MessagePort extends EventEmitter {
  close(): void;
  postMessage(value: any, transferList?: ReadonlyArray<TransferListItem> | StructuredSerializeOptions): void;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  start(): void;
  onmessage: ((this: MessagePort, event: MessageEvent) => void) | null;
  onmessageerror: ((this: MessagePort, event: MessageEvent) => void) | null;
  addEventListener(type: 'message' | 'messageerror' | 'close', listener: (event: any) => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'message' | 'messageerror' | 'close', listener: (event: any) => void): void;
  addListener(event: 'close', listener: () => void): this;
  addListener(event: 'message', listener: (value: any) => void): this;
  addListener(event: 'messageerror', listener: (error: Error) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'message', listener: (value: any) => void): this;
  on(event: 'messageerror', listener: (error: Error) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'close', listener: () => void): this;
  once(event: 'message', listener: (value: any) => void): this;
  once(event: 'messageerror', listener: (error: Error) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export interface ResourceLimits {
  maxYoungGenerationSizeMb?: number | undefined;
  maxOldGenerationSizeMb?: number | undefined;
  codeRangeSizeMb?: number | undefined;
  stackSizeMb?: number | undefined;
}

export interface WorkerOptions {
  argv?: any[] | undefined;
  env?: NodeJS.Dict<string> | typeof SHARE_ENV | undefined;
  eval?: boolean | undefined;
  workerData?: any;
  stdin?: boolean | undefined;
  stdout?: boolean | undefined;
  stderr?: boolean | undefined;
  execArgv?: string[] | undefined;
  resourceLimits?: ResourceLimits | undefined;
  transferList?: TransferListItem[] | undefined;
  name?: string | undefined;
  trackUnmanagedFds?: boolean | undefined;
}

export class Worker extends EventEmitter {
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly threadId: number;
  readonly resourceLimits?: ResourceLimits | undefined;
  readonly performance: WorkerPerformance;
  constructor(filename: string | URL, options?: WorkerOptions);
  postMessage(value: any, transferList?: ReadonlyArray<TransferListItem>): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
  /** A Readable of the worker's V8 heap snapshot (JSON), as node:worker_threads'. */
  getHeapSnapshot(options?: { exposeInternals?: boolean; exposeNumericValues?: boolean }): Promise<Readable>;
  /** Node 22+: the thread's name while it runs (options.name), null after it has ended. */
  readonly threadName?: string | null;
  /** Node 22+: the worker thread's CPU time in microseconds, or its use since `prev`. */
  cpuUsage?(prev?: { user: number; system: number }): Promise<{ user: number; system: number }>;
  /** Node 22+: the worker's V8 heap statistics (as v8.getHeapStatistics() inside it). */
  getHeapStatistics?(): Promise<import('v8').HeapInfo>;
  /** Node 22 takes a profile name, 24 nothing, 26 sampling options; stop() gives the .cpuprofile JSON. */
  startCpuProfile?(nameOrOptions?: string | { samplingIntervalMicros?: number; maxSamples?: number }): Promise<ProfileHandle>;
  /** Node 24+: a sampling heap profile; stop() gives its JSON. */
  startHeapProfile?(): Promise<ProfileHandle>;
  addListener(event: 'error', listener: (err: Error) => void): this;
  addListener(event: 'exit', listener: (exitCode: number) => void): this;
  addListener(event: 'message', listener: (value: any) => void): this;
  addListener(event: 'messageerror', listener: (error: Error) => void): this;
  addListener(event: 'online', listener: () => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'exit', listener: (exitCode: number) => void): this;
  on(event: 'message', listener: (value: any) => void): this;
  on(event: 'messageerror', listener: (error: Error) => void): this;
  on(event: 'online', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: 'exit', listener: (exitCode: number) => void): this;
  once(event: 'message', listener: (value: any) => void): this;
  once(event: 'messageerror', listener: (error: Error) => void): this;
  once(event: 'online', listener: () => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export interface ProfileHandle {
  stop(): Promise<string>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Where the running line has them (postMessageToThread: 20.20+, the rest 22+, locks 24+). */
export function postMessageToThread(threadId: number, value: any, transferList?: ReadonlyArray<TransferListItem> | number, timeout?: number): Promise<void>;
export function markAsUncloneable(object: object): void;
export const isInternalThread: boolean;
export const threadName: string;
export const locks: any;

export function receiveMessageOnPort(port: MessagePort): { message: any } | undefined;
export function markAsUntransferable(object: object): void;
/** Node 21 and later only (as in Node). */
export function isMarkedAsUntransferable(object: object): boolean;

export class BroadcastChannel extends EventTarget {
  readonly name: string;
  constructor(name: string);
  postMessage(message: unknown): void;
  close(): void;
  ref(): this;
  unref(): this;
  onmessage: ((this: BroadcastChannel, event: MessageEvent) => void) | null;
  onmessageerror: ((this: BroadcastChannel, event: MessageEvent) => void) | null;
}

export interface EventLoopUtilization {
  idle: number;
  active: number;
  utilization: number;
}

export interface WorkerPerformance {
  eventLoopUtilization(util1?: EventLoopUtilization, util2?: EventLoopUtilization): EventLoopUtilization;
}
export type Serializable = string | object | number | boolean | bigint;
export function getEnvironmentData(key: Serializable): Serializable;
export function setEnvironmentData(key: Serializable, value: Serializable): void;
