/**
 * Ports: what the domain needs from the outside world. Each has one implementation for AWS and
 * one for the embedded default (functions/adapters, local/).
 */
import type { Artifact, ConfigurationVersion, PlanChanges, StateVersion, Task, TaskStatus, User, Variable, Workspace } from './model.js';
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
  releaseLock(workspaceId: string, taskId: number): Promise<void>;
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
  publish(taskId: number, messages: LogMessage[]): Promise<void>;
}

export type { PlanChanges };
