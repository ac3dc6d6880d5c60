import type { AuditLog } from './audit.js';
import type { AddressPolicy } from './network.js';
import type { BlobStore, ConnectionsApi, LogSink, Metrics, RunnerControl, Secrets, Store, Webhooks, Workflow } from './ports.js';

export interface Settings {
  /** base URL clients and run-task receivers use to reach the API */
  publicUrl: string;
  /** configuration uploads larger than this are refused (413) */
  maxConfigBytes: number;
  /** JSON bodies larger than this are refused (413) */
  maxJsonBytes: number;
  version: string;
  /** runs executing at once across workspaces (seed 004's max_workers); null: no limit */
  maxConcurrentRuns: number | null;
  runTasks: {
    /** lower bound of timeout_seconds (60 by default; tests lower it) */
    minTimeoutSeconds: number;
    /** each POST to an endpoint gets this long (10 s) … */
    attemptTimeoutMs: number;
    /** … and is tried this many times (3), waiting base × 2^n between tries */
    attempts: number;
    retryBaseMs: number;
    addresses: AddressPolicy;
  };
}

/** Everything the domain needs, wired once per process (functions/services.ts, local/). */
export interface Deps {
  store: Store;
  blobs: BlobStore;
  secrets: Secrets;
  workflow: Workflow;
  runner: RunnerControl;
  sink?: LogSink;
  /** the WebSocket management API, to reach live-log viewers (absent: no live logs) */
  connections?: ConnectionsApi;
  webhooks: Webhooks;
  audit: AuditLog;
  metrics: Metrics;
  settings: Settings;
}
