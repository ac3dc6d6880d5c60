/**
 * Ports: what the domain needs from the outside world. Each has one implementation for AWS and
 * one for the embedded default (functions/adapters, local/).
 */
import type { Artifact, ConfigurationVersion, Outcome, Role, PlanChanges, ResultKey, ResultStatus, RunTask, RunTaskResult, StateVersion, Task, TaskStatus, User, Variable, Workspace, WorkspaceRunTask } from './model.js';
import type { AuditEvent } from './audit.js';
import type { LogMessage } from './logs.js';

/** Durable records. One DynamoDB implementation serves AWS and the embedded DynamoDB. */
export interface Store {
  // users and tokens
  createUser(user: User, tokenHash: string): Promise<void>;
  /** Creates or re-points the bootstrap admin's token (ADMIN_TOKEN may change between starts). */
  upsertUserToken(user: User, tokenHash: string): Promise<void>;
  getUserByTokenHash(tokenHash: string): Promise<User | null>;
  listUsers(): Promise<User[]>;

  // workspaces
  createWorkspace(ws: Workspace): Promise<void>;
  getWorkspace(idOrName: string): Promise<Workspace | null>;
  listWorkspaces(): Promise<Workspace[]>;
  updateWorkspace(ws: Workspace, previousName: string): Promise<void>;
  deleteWorkspace(ws: Workspace): Promise<void>;

  // configuration versions
  putConfigurationVersion(cv: ConfigurationVersion): Promise<void>;
  getConfigurationVersion(id: string): Promise<ConfigurationVersion | null>;
  latestConfigurationVersion(workspaceId: string): Promise<ConfigurationVersion | null>;

  // variables
  putVariable(workspaceId: string, v: Variable): Promise<void>;
  listVariables(workspaceId: string): Promise<Variable[]>;
  deleteVariable(workspaceId: string, key: string): Promise<boolean>;

  // tasks (runs)
  nextTaskId(): Promise<number>;
  createTask(task: Task): Promise<void>;
  getTask(taskId: number): Promise<Task | null>;
  /**
   * Applies `changes` when the task's status is one of `whenStatus` (any status when omitted).
   * Returns the updated task, or null when the condition failed.
   */
  updateTask(task: Pick<Task, 'task_id' | 'workspace_id'>, changes: Partial<Task>, whenStatus?: readonly TaskStatus[], remove?: (keyof Task)[]): Promise<Task | null>;
  listTasks(workspaceId: string, filter: { status?: string; task_type?: string }): Promise<Task[]>;
  /** Oldest first. */
  listPendingTasks(workspaceId: string): Promise<Task[]>;
  listTasksByStatus(status: TaskStatus): Promise<Task[]>;

  // workspace lock (one run at a time)
  acquireLock(workspaceId: string, taskId: number): Promise<boolean>;
  /** true when this call released the holder's lock (false: not held by that run) */
  releaseLock(workspaceId: string, taskId: number): Promise<boolean>;
  /** MAX_CONCURRENT_RUNS (seed 004's max_workers): a counted slot, taken while below `max` */
  acquireRunSlot(max: number): Promise<boolean>;
  releaseRunSlot(): Promise<void>;
  /** sets the count (the embedded default at start, after ending runs in flight) */
  resetRunSlots(active: number): Promise<void>;
  getLockHolder(workspaceId: string): Promise<number | null>;

  // logs: chunks of consecutive messages
  putLogChunk(taskId: number, messages: LogMessage[]): Promise<void>;
  readLog(taskId: number, afterLine: number): AsyncIterable<LogMessage[]>;
  /** the highest line_num stored for the run (0 when none): where a new writer continues */
  lastLogLine(taskId: number): Promise<number>;

  // artifacts and state
  putArtifact(a: Artifact): Promise<void>;
  listArtifacts(taskId: number): Promise<Artifact[]>;
  getArtifact(artifactId: string): Promise<Artifact | null>;
  putCurrentState(workspaceId: string, sv: StateVersion, outputs: Record<string, unknown>): Promise<void>;
  getCurrentState(workspaceId: string): Promise<{ version: StateVersion; outputs: Record<string, unknown> } | null>;

  // run tasks (definitions), workspace attachments, results and outcomes
  createRunTask(rt: RunTask): Promise<boolean>;
  getRunTask(id: string): Promise<RunTask | null>;
  listRunTasks(): Promise<RunTask[]>;
  putRunTask(rt: RunTask): Promise<void>;
  deleteRunTask(id: string): Promise<void>;
  createAttachment(a: WorkspaceRunTask): Promise<boolean>;
  putAttachment(a: WorkspaceRunTask): Promise<void>;
  listAttachments(workspaceId: string): Promise<WorkspaceRunTask[]>;
  listAttachmentsOfRunTask(runTaskId: string): Promise<WorkspaceRunTask[]>;
  deleteAttachment(a: WorkspaceRunTask): Promise<void>;
  /** A stage's results, written in batches (a stage may have a hundred). */
  createResults(results: RunTaskResult[]): Promise<void>;
  getResult(resultId: string): Promise<RunTaskResult | null>;
  /** one read, when the run and stage are known (the Map item carries them) */
  getResultAt(key: ResultKey): Promise<RunTaskResult | null>;
  /** the one-time access token of a result, by its SHA-256 */
  linkResultToken(tokenHash: string, resultId: string): Promise<void>;
  getResultIdByTokenHash(tokenHash: string): Promise<string | null>;
  /** Applies `changes` when the result's status is one of `whenStatus`; null when it is not. */
  updateResult(r: Pick<RunTaskResult, 'result_id' | 'task_id' | 'stage'>, changes: Partial<RunTaskResult>, whenStatus?: readonly ResultStatus[]): Promise<RunTaskResult | null>;
  listResults(taskId: number): Promise<RunTaskResult[]>;
  putOutcomes(resultId: string, outcomes: Outcome[]): Promise<void>;
  listOutcomes(resultId: string): Promise<Outcome[]>;

  // live-log viewers: WebSocket connections and their subscriptions (see core/viewers.ts)
  putViewerConnection(c: ViewerConnection): Promise<void>;
  getViewerConnection(connectionId: string): Promise<ViewerConnection | null>;
  /** Deletes the connection; returns what it was (its subscription's task, if any). */
  deleteViewerConnection(connectionId: string): Promise<ViewerConnection | null>;
  /** the user's connections (eventually consistent; may include some whose $disconnect was lost) */
  listViewerConnections(userId: string): Promise<ViewerConnection[]>;
  /** Creates or replaces (a re-subscribe) the connection's subscription to a run. */
  putSubscription(s: Subscription): Promise<void>;
  /** Strongly consistent: a subscription registered before a line was stored is always listed. */
  listSubscriptions(taskId: number): Promise<Subscription[]>;
  /** every subscription of every run (the streams stats) */
  listAllSubscriptions(): Promise<Subscription[]>;
  deleteSubscription(taskId: number, connectionId: string): Promise<void>;
  /**
   * Hands a subscription over between the subscribe handler ('replay') and the posters ('live'):
   * applies `to` when the subscription is at `from` (and, with `unadopted`, no poster has taken
   * it over). False when the condition failed.
   */
  handOverSubscription(
    taskId: number,
    connectionId: string,
    from: { owner: Subscription['owner']; epoch: string; unadopted?: boolean },
    to: { owner: Subscription['owner']; epoch: string; through: number },
  ): Promise<boolean>;
  /** A poster takes over a live subscription at `epoch` (from `previous`, the poster before it, if any). */
  adoptSubscription(taskId: number, connectionId: string, epoch: string, adopted: string, previous: string | undefined): Promise<boolean>;
  /** True the first time only: `completed` is sent once per subscription. */
  claimSubscriptionCompleted(taskId: number, connectionId: string): Promise<boolean>;

  // audit chain
  getAuditHead(): Promise<{ seq: number; hash: string } | null>;
  /** Writes the event and moves the head from `prevSeq`; false when another append won. */
  appendAuditEvent(event: AuditEvent, prevSeq: number): Promise<boolean>;
  readAuditEvents(afterSeq: number): AsyncIterable<AuditEvent[]>;
}

/** Blobs: S3 on AWS, files under DATA_DIR locally. */
export interface BlobStore {
  put(key: string, body: Buffer): Promise<void>;
  get(key: string): Promise<Buffer | null>;
  delete(key: string): Promise<void>;
}

/** Envelope encryption of secrets: KMS on AWS, AES-256-GCM with a local key file locally. */
export interface Secrets {
  encrypt(plain: string): Promise<string>;
  decrypt(cipher: string): Promise<string>;
}

/** Step Functions executions of the run definition. */
export interface Workflow {
  startRun(task: Pick<Task, 'task_id' | 'workspace_id'>): Promise<void>;
  /** progress on a waiting task token: its heartbeat timer starts again */
  sendTaskHeartbeat(token: string): Promise<void>;
  sendTaskSuccess(token: string, output: Record<string, unknown>): Promise<void>;
  sendTaskFailure(token: string, error: string, cause: string): Promise<void>;
}

/** Stops a runner (ECS StopTask on AWS, a signal to the child process locally). */
export interface RunnerControl {
  /** graceful: terraform gets an interrupt (as Ctrl-C) and saves state; force: killed at once */
  stop(taskId: number, force: boolean): Promise<boolean>;
}

/** Live delivery of log messages to viewers (WebSocket); the store holds the durable copy. */
export interface LogSink {
  /**
   * A runner is about to write a run's lines after `after` (all stored before were sent by their
   * writers): the sink may get ready now, before the first line waits for it.
   */
  prepare?(taskId: number, after: number): void;
  /**
   * A warm runner, still waiting for its phase, runs the sink's calls once (with no effect), so a
   * phase's first lines do not wait for code that has never run (the first calls cost tens of ms).
   */
  warm?(): Promise<void>;
  publish(taskId: number, messages: LogMessage[]): Promise<void>;
}

/** A live-log viewer's WebSocket connection (the API Gateway connection id) and who opened it. */
export interface ViewerConnection {
  connection_id: string;
  user_id: string;
  username: string;
  role: Role;
  teams: string[];
  connected_at: string;
  /** the run it follows, once subscribed (one at a time) */
  task_id?: number;
}

/**
 * A connection's subscription to one run's log. While `owner` is 'replay' only the subscribe
 * handler sends to it (stored history); once 'live', the posters (the runner's sink, Finalize) do.
 */
export interface Subscription {
  task_id: number;
  connection_id: string;
  user_id: string;
  subscribed_at: string;
  owner: 'replay' | 'live';
  /** changes at every hand-over, so a stale actor's conditional write fails */
  epoch: string;
  /** the last line_num sent to the connection, as of the last hand-over */
  through: number;
  /** `<poster id>:<epoch>` of the poster that took the live subscription over */
  adopted?: string;
  completed?: boolean;
}

export type PostResult = 'ok' | 'gone' | 'throttled' | 'failed';

/**
 * The API Gateway WebSocket management API (`@connections`): the real SDK client on AWS and
 * against the embedded default's local endpoint.
 */
export interface ConnectionsApi {
  /**
   * Sends one WebSocket message (text, or its UTF-8 bytes: a frame for many viewers is encoded
   * once). 'gone': 410, the viewer left; 'throttled': 429, its buffer is full.
   */
  post(connectionId: string, data: string | Uint8Array): Promise<PostResult>;
  /** Whether the connection is still open (GET @connections/{id}; 410 → false). */
  exists(connectionId: string): Promise<boolean>;
  /** Closes the connection; `reason` reaches clients of the embedded default as the close reason. */
  close(connectionId: string, reason?: string): Promise<void>;
}

export type { PlanChanges };

/** Outbound webhooks (run-task endpoints), with the SSRF guard of SPEC §5 applied after DNS. */
export interface Webhooks {
  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: string }>;
}

/** Counters and timings (CloudWatch EMF on AWS; in memory and `GET /api/v1/system/metrics` locally). */
export interface Metrics {
  count(name: string, value?: number, dimensions?: Record<string, string>): void;
  timing(name: string, ms: number, dimensions?: Record<string, string>): void;
  /** the figures so far, where they are kept in process (the embedded default) */
  snapshot?(): unknown;
}
