// The IPC protocol between the primary (sidecar, supervision) and its echo workers.
import type { MetricsSnapshot } from '../metrics/aggregate.js';
import type { ConnectionsPage, ConnectionSort } from '../tcp/connection-table.js';

export interface WorkerStatus {
  readonly accepting: boolean;
  readonly active: number;
  readonly pendingWriteBytes: number;
}

export type WorkerMessage =
  | { readonly type: 'tcp-echo:listening'; readonly port: number; readonly address: string }
  /** `whole`: the message already names the listener and the settings (a StartError). */
  | { readonly type: 'tcp-echo:start-failed'; readonly code: string | undefined; readonly message: string; readonly whole: boolean }
  | { readonly type: 'tcp-echo:status'; readonly status: WorkerStatus }
  | { readonly type: 'tcp-echo:metrics'; readonly requestId: number; readonly metrics: MetricsSnapshot }
  | { readonly type: 'tcp-echo:connections'; readonly requestId: number; readonly page: ConnectionsPage }
  | { readonly type: 'tcp-echo:drained'; readonly outcome: string; readonly metrics: MetricsSnapshot };

export type PrimaryMessage =
  | { readonly type: 'tcp-echo:metrics-request'; readonly requestId: number }
  /** The worker's open connections for /connections, its first `limit` in `sort` order. */
  | { readonly type: 'tcp-echo:connections-request'; readonly requestId: number; readonly sort: ConnectionSort; readonly limit: number }
  /** Re-read TLS certificates (the primary got SIGHUP). */
  | { readonly type: 'tcp-echo:reload' }
  /** Stop accepting and drain; close what is left after `remainingMs`. */
  | { readonly type: 'tcp-echo:shutdown'; readonly remainingMs: number };

const isObject = (value: unknown): value is { type?: unknown } => typeof value === 'object' && value !== null;

const isOurs = (value: unknown) => isObject(value) && typeof value.type === 'string' && value.type.startsWith('tcp-echo:');
export const isWorkerMessage = (value: unknown): value is WorkerMessage => isOurs(value);
export const isPrimaryMessage = (value: unknown): value is PrimaryMessage => isOurs(value);
