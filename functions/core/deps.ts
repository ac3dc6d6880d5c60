import type { BlobStore, LogSink, RunnerControl, Secrets, Store, Workflow } from './ports.js';

export interface Settings {
  /** base URL clients and run-task receivers use to reach the API */
  publicUrl: string;
  /** configuration uploads larger than this are refused (413) */
  maxConfigBytes: number;
  /** JSON bodies larger than this are refused (413) */
  maxJsonBytes: number;
  version: string;
}

/** Everything the domain needs, wired once per process (functions/services.ts, local/). */
export interface Deps {
  store: Store;
  blobs: BlobStore;
  secrets: Secrets;
  workflow: Workflow;
  runner: RunnerControl;
  sink?: LogSink;
  settings: Settings;
}
