// corral/cluster: Node's cluster on processes Rust spawns, ports shared by Rust.
// Same shapes as @types/node's cluster, plus the 'reuseport' schedule.
import type * as nodeCluster from 'node:cluster';

export type Worker = nodeCluster.Worker;
export type ClusterSettings = nodeCluster.ClusterSettings;
export type Address = nodeCluster.Address;
/** One SO_REUSEPORT socket per worker; connections queued on a dying worker's socket are lost
 * unless net.ipv4.tcp_migrate_req=1. Select with NODE_CLUSTER_SCHED_POLICY=reuseport. */
export const SCHED_REUSEPORT: 3;
export interface CorralCluster extends nodeCluster.Cluster {
  SCHED_REUSEPORT: 3;
  schedulingPolicy: number | 'reuseport';
}
declare const cluster: CorralCluster;
export const isPrimary: boolean;
export const isMaster: boolean;
export const isWorker: boolean;
export const worker: Worker | undefined;
export const workers: NodeJS.Dict<Worker> | undefined;
export const settings: ClusterSettings;
export const SCHED_NONE: number;
export const SCHED_RR: number;
export const schedulingPolicy: number;
export const setupPrimary: (settings?: ClusterSettings) => void;
export const setupMaster: (settings?: ClusterSettings) => void;
export const fork: (env?: any) => Worker;
export const disconnect: (callback?: () => void) => void;
export default cluster;
