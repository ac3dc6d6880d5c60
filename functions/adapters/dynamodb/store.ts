/**
 * The Store port on DynamoDB (single table: pk, sk, gsi1). The same code serves AWS and the
 * embedded DynamoDB; only the client's endpoint differs.
 *
 * Layout:
 *   USER#<id>/META, USERNAME#<name>/META, TOKEN#<sha256>/META       users and their tokens
 *   WS#<id>/META (gsi1 WORKSPACES/<name>), WSNAME#<name>/META       workspaces, unique names
 *   WS#<id>/TASK#<n>  (gsi1 TASKSTATUS#<status>/<n>), TASK#<n>/REF   runs: per workspace, strongly
 *                                                                    consistent queue reads
 *   WS#<id>/LOCK, WS#<id>/VAR#<key>, WS#<id>/CV#<at>#<id>, CV#<id>/REF, WS#<id>/STATE
 *   LOG#<n>/<last line_num>                                          log chunks (JSON, gzipped when large)
 *   TASK#<n>/ART#<id>, ART#<id>/REF                                  artifacts
 *   COUNTER/TASK                                                     task ids
 *   WSCONN#<conn>/META, CONN#<task>/<conn> (ttl)                     live-log viewers (see below)
 */
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { conflict } from '../../core/errors.js';
import type { AuditEvent } from '../../core/audit.js';
import type { LogMessage } from '../../core/logs.js';
import type { Artifact, ConfigurationVersion, Outcome, ResultKey, ResultStatus, RunTask, RunTaskResult, StateVersion, Task, TaskStatus, User, Variable, Workspace, WorkspaceRunTask } from '../../core/model.js';
import type { Store, Subscription, ViewerConnection } from '../../core/ports.js';

const gzipAsync = promisify(gzip);

/** Chunks below this stay plain JSON: compressing a few lines costs more than it saves. */
const COMPRESS_FROM_BYTES = 4096;

/**
 * A chunk's lines: compressed from a few KB (~10× for terraform's output, so a busy run writes a
 * tenth of the bytes DynamoDB bills by the KB), plain JSON below.
 */
async function logBody(messages: LogMessage[]): Promise<{ messages: string } | { gz: Buffer }> {
  const json = JSON.stringify(messages);
  return json.length < COMPRESS_FROM_BYTES ? { messages: json } : { gz: await gzipAsync(json, { level: 1 }) };
}

const pad = (n: number) => String(n).padStart(12, '0');
const KEYS = ['pk', 'sk', 'gsi1pk', 'gsi1sk'];

function strip<T>(item: Record<string, unknown> | undefined): T | null {
  if (!item) return null;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) if (!KEYS.includes(k)) out[k] = v;
  return out as T;
}

const isConditionFailure = (err: unknown) =>
  err instanceof ConditionalCheckFailedException || (err as { name?: string })?.name === 'ConditionalCheckFailedException';

export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export class DynamoStore implements Store {
  /** task id → workspace id; immutable, so it is safe to remember */
  private readonly taskWorkspace = new Map<number, string>();

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  // ---------- helpers ----------

  private async get<T>(pk: string, sk: string): Promise<T | null> {
    const r = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }));
    return strip<T>(r.Item);
  }

  private async putNew(item: Record<string, unknown>): Promise<boolean> {
    try {
      await this.db.send(new PutCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  private async *queryPages(input: Omit<QueryCommandInput, 'TableName'>): AsyncGenerator<Record<string, unknown>[]> {
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const r = await this.db.send(new QueryCommand({ TableName: this.table, ...input, ExclusiveStartKey }));
      yield r.Items ?? [];
      ExclusiveStartKey = r.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }

  private async queryAll<T>(input: Omit<QueryCommandInput, 'TableName'>): Promise<T[]> {
    const out: T[] = [];
    for await (const page of this.queryPages(input)) for (const item of page) out.push(strip<T>(item)!);
    return out;
  }

  private prefixQuery(pk: string, prefix: string, forward = true): Omit<QueryCommandInput, 'TableName'> {
    return {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': pk, ':p': prefix },
      ScanIndexForward: forward,
      ConsistentRead: true,
    };
  }

  /** BatchWriteItem in requests of 25 (its limit), sent concurrently, unprocessed items retried. */
  private async batchWrite(requests: unknown[]): Promise<void> {
    const groups: unknown[][] = [];
    for (let i = 0; i < requests.length; i += 25) groups.push(requests.slice(i, i + 25));
    await Promise.all(
      groups.map(async (group) => {
        let pending = group;
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
          const r = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } }));
          pending = r.UnprocessedItems?.[this.table] ?? [];
        }
      }),
    );
  }

  private deleteKeys(keys: { pk: string; sk: string }[]): Promise<void> {
    return this.batchWrite(keys.map((Key) => ({ DeleteRequest: { Key } })));
  }

  private batchPut(items: Record<string, unknown>[]): Promise<void> {
    return this.batchWrite(items.map((Item) => ({ PutRequest: { Item } })));
  }

  // ---------- users ----------

  async createUser(user: User, tokenHash: string): Promise<void> {
    if (!(await this.putNew({ pk: `USERNAME#${user.username}`, sk: 'META', user_id: user.user_id }))) {
      throw conflict(`username ${user.username} is taken`);
    }
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `USER#${user.user_id}`, sk: 'META', gsi1pk: 'USERS', gsi1sk: user.username, ...user } }));
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `TOKEN#${tokenHash}`, sk: 'META', ...user } }));
  }

  async upsertUserToken(user: User, tokenHash: string): Promise<void> {
    const existing = await this.get<User & { token_hash?: string }>(`USER#${user.user_id}`, 'META');
    if (existing?.token_hash && existing.token_hash !== tokenHash) {
      await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: `TOKEN#${existing.token_hash}`, sk: 'META' } }));
    }
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `USERNAME#${user.username}`, sk: 'META', user_id: user.user_id } }));
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `USER#${user.user_id}`, sk: 'META', gsi1pk: 'USERS', gsi1sk: user.username, ...user, token_hash: tokenHash } }));
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `TOKEN#${tokenHash}`, sk: 'META', ...user } }));
  }

  getUserByTokenHash(tokenHash: string): Promise<User | null> {
    return this.get<User>(`TOKEN#${tokenHash}`, 'META');
  }

  async listUsers(): Promise<User[]> {
    const users = await this.queryAll<User & { token_hash?: string }>({
      IndexName: 'gsi1',
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': 'USERS' },
    });
    return users.map(({ token_hash: _omit, ...u }) => u);
  }

  // ---------- workspaces ----------

  async createWorkspace(ws: Workspace): Promise<void> {
    if (!(await this.putNew({ pk: `WSNAME#${ws.name}`, sk: 'META', workspace_id: ws.workspace_id }))) {
      throw conflict(`workspace name ${ws.name} is taken`);
    }
    await this.db.send(new PutCommand({ TableName: this.table, Item: this.workspaceItem(ws) }));
  }

  private workspaceItem(ws: Workspace) {
    return { pk: `WS#${ws.workspace_id}`, sk: 'META', gsi1pk: 'WORKSPACES', gsi1sk: ws.name, ...ws };
  }

  async getWorkspace(idOrName: string): Promise<Workspace | null> {
    if (idOrName.startsWith('ws-')) {
      const ws = await this.get<Workspace>(`WS#${idOrName}`, 'META');
      if (ws) return ws;
    }
    const ref = await this.get<{ workspace_id: string }>(`WSNAME#${idOrName}`, 'META');
    return ref ? this.get<Workspace>(`WS#${ref.workspace_id}`, 'META') : null;
  }

  listWorkspaces(): Promise<Workspace[]> {
    return this.queryAll<Workspace>({ IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': 'WORKSPACES' } });
  }

  async updateWorkspace(ws: Workspace, previousName: string): Promise<void> {
    if (ws.name !== previousName) {
      if (!(await this.putNew({ pk: `WSNAME#${ws.name}`, sk: 'META', workspace_id: ws.workspace_id }))) {
        throw conflict(`workspace name ${ws.name} is taken`);
      }
    }
    await this.db.send(new PutCommand({ TableName: this.table, Item: this.workspaceItem(ws), ConditionExpression: 'attribute_exists(pk)' }));
    if (ws.name !== previousName) {
      await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: `WSNAME#${previousName}`, sk: 'META' } }));
    }
  }

  async deleteWorkspace(ws: Workspace): Promise<void> {
    const keys: { pk: string; sk: string }[] = [];
    for await (const page of this.queryPages({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `WS#${ws.workspace_id}` }, ProjectionExpression: 'pk, sk' })) {
      for (const i of page) keys.push({ pk: i.pk as string, sk: i.sk as string });
    }
    keys.push({ pk: `WSNAME#${ws.name}`, sk: 'META' });
    await this.deleteKeys(keys);
  }

  // ---------- configuration versions ----------

  async putConfigurationVersion(cv: ConfigurationVersion): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `CV#${cv.configuration_version_id}`, sk: 'REF', ...cv } }));
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `WS#${cv.workspace_id}`, sk: `CV#${cv.created_at}#${cv.configuration_version_id}`, ...cv } }));
  }

  getConfigurationVersion(id: string): Promise<ConfigurationVersion | null> {
    return this.get<ConfigurationVersion>(`CV#${id}`, 'REF');
  }

  async latestConfigurationVersion(workspaceId: string): Promise<ConfigurationVersion | null> {
    const r = await this.db.send(new QueryCommand({ TableName: this.table, ...this.prefixQuery(`WS#${workspaceId}`, 'CV#', false), Limit: 1 }));
    return strip<ConfigurationVersion>(r.Items?.[0]);
  }

  // ---------- variables ----------

  async putVariable(workspaceId: string, v: Variable): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `WS#${workspaceId}`, sk: `VAR#${v.key}`, ...v } }));
  }

  listVariables(workspaceId: string): Promise<Variable[]> {
    return this.queryAll<Variable>(this.prefixQuery(`WS#${workspaceId}`, 'VAR#'));
  }

  async deleteVariable(workspaceId: string, key: string): Promise<boolean> {
    const r = await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: `WS#${workspaceId}`, sk: `VAR#${key}` }, ReturnValues: 'ALL_OLD' }));
    return r.Attributes !== undefined;
  }

  // ---------- tasks ----------

  async nextTaskId(): Promise<number> {
    const r = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: 'COUNTER', sk: 'TASK' },
        UpdateExpression: 'ADD #v :one',
        ExpressionAttributeNames: { '#v': 'value' },
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(r.Attributes!.value);
  }

  async createTask(task: Task): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `TASK#${task.task_id}`, sk: 'REF', workspace_id: task.workspace_id } }));
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `WS#${task.workspace_id}`, sk: `TASK#${pad(task.task_id)}`, gsi1pk: `TASKSTATUS#${task.status}`, gsi1sk: pad(task.task_id), ...task },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    this.taskWorkspace.set(task.task_id, task.workspace_id);
  }

  async getTask(taskId: number): Promise<Task | null> {
    let ws = this.taskWorkspace.get(taskId);
    if (!ws) {
      const ref = await this.get<{ workspace_id: string }>(`TASK#${taskId}`, 'REF');
      if (!ref) return null;
      ws = ref.workspace_id;
      this.taskWorkspace.set(taskId, ws);
    }
    return this.get<Task>(`WS#${ws}`, `TASK#${pad(taskId)}`);
  }

  async updateTask(task: Pick<Task, 'task_id' | 'workspace_id'>, changes: Partial<Task>, whenStatus?: readonly TaskStatus[], remove: (keyof Task)[] = []): Promise<Task | null> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    let i = 0;
    const fields: Record<string, unknown> = { ...changes };
    if (changes.status) fields.gsi1pk = `TASKSTATUS#${changes.status}`;
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      names[`#f${i}`] = k;
      values[`:v${i}`] = v;
      sets.push(`#f${i} = :v${i}`);
      i++;
    }
    const removes = remove.map((k) => {
      names[`#f${i}`] = k;
      return `#f${i++}`;
    });
    let condition = 'attribute_exists(pk)';
    if (whenStatus) {
      names['#status'] = 'status';
      const opts = whenStatus.map((s, j) => {
        values[`:s${j}`] = s;
        return `:s${j}`;
      });
      condition += ` AND #status IN (${opts.join(', ')})`;
    }
    const expr = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : ''].filter(Boolean).join(' ');
    try {
      const r = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `WS#${task.workspace_id}`, sk: `TASK#${pad(task.task_id)}` },
          UpdateExpression: expr,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: Object.keys(values).length ? values : undefined,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip<Task>(r.Attributes);
    } catch (err) {
      if (isConditionFailure(err)) return null;
      throw err;
    }
  }

  async listTasks(workspaceId: string, filter: { status?: string; task_type?: string }): Promise<Task[]> {
    const q = this.prefixQuery(`WS#${workspaceId}`, 'TASK#', false);
    const conds: string[] = [];
    const names: Record<string, string> = {};
    if (filter.status) {
      conds.push('#st = :st');
      names['#st'] = 'status';
      (q.ExpressionAttributeValues as Record<string, unknown>)[':st'] = filter.status;
    }
    if (filter.task_type) {
      conds.push('#tt = :tt');
      names['#tt'] = 'task_type';
      (q.ExpressionAttributeValues as Record<string, unknown>)[':tt'] = filter.task_type;
    }
    if (conds.length) {
      q.FilterExpression = conds.join(' AND ');
      q.ExpressionAttributeNames = names;
    }
    return this.queryAll<Task>(q);
  }

  async listPendingTasks(workspaceId: string): Promise<Task[]> {
    const q = this.prefixQuery(`WS#${workspaceId}`, 'TASK#', true);
    q.FilterExpression = '#st = :st';
    q.ExpressionAttributeNames = { '#st': 'status' };
    (q.ExpressionAttributeValues as Record<string, unknown>)[':st'] = 'pending';
    return this.queryAll<Task>(q);
  }

  listTasksByStatus(status: TaskStatus): Promise<Task[]> {
    return this.queryAll<Task>({ IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': `TASKSTATUS#${status}` } });
  }

  // ---------- lock ----------

  async acquireLock(workspaceId: string, taskId: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: `WS#${workspaceId}`, sk: 'LOCK', task_id: taskId, locked_at: new Date().toISOString() },
          ConditionExpression: 'attribute_not_exists(pk) OR task_id = :t',
          ExpressionAttributeValues: { ':t': taskId },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async releaseLock(workspaceId: string, taskId: number): Promise<boolean> {
    try {
      await this.db.send(
        new DeleteCommand({ TableName: this.table, Key: { pk: `WS#${workspaceId}`, sk: 'LOCK' }, ConditionExpression: 'task_id = :t', ExpressionAttributeValues: { ':t': taskId } }),
      );
      return true;
    } catch (err) {
      if (!isConditionFailure(err)) throw err; // someone else's lock, or none: nothing to release
      return false;
    }
  }

  async acquireRunSlot(max: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: 'SYSTEM', sk: 'RUN_SLOTS' },
          UpdateExpression: 'ADD active :one',
          ConditionExpression: 'attribute_not_exists(active) OR active < :max',
          ExpressionAttributeValues: { ':one': 1, ':max': max },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async releaseRunSlot(): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({ TableName: this.table, Key: { pk: 'SYSTEM', sk: 'RUN_SLOTS' }, UpdateExpression: 'ADD active :minus', ConditionExpression: 'active > :zero', ExpressionAttributeValues: { ':minus': -1, ':zero': 0 } }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  async resetRunSlots(active: number): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: 'SYSTEM', sk: 'RUN_SLOTS', active } }));
  }

  async getLockHolder(workspaceId: string): Promise<number | null> {
    const lock = await this.get<{ task_id: number }>(`WS#${workspaceId}`, 'LOCK');
    return lock ? lock.task_id : null;
  }

  // ---------- logs ----------

  async putLogChunk(taskId: number, messages: LogMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const last = messages[messages.length - 1].line_num;
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `LOG#${taskId}`, sk: pad(last), first: messages[0].line_num, last, ...(await logBody(messages)) },
      }),
    );
  }

  async *readLog(taskId: number, afterLine: number): AsyncIterable<LogMessage[]> {
    // A chunk is keyed by its last line, so every chunk holding a line after `afterLine` sorts after it.
    for await (const page of this.queryPages({
      KeyConditionExpression: 'pk = :pk AND sk > :after',
      ExpressionAttributeValues: { ':pk': `LOG#${taskId}`, ':after': pad(afterLine) },
      ConsistentRead: true,
    })) {
      for (const item of page) {
        const messages = JSON.parse(item.gz ? gunzipSync(item.gz as Uint8Array).toString('utf8') : (item.messages as string)) as LogMessage[];
        yield (item.first as number) > afterLine ? messages : messages.filter((m) => m.line_num > afterLine);
      }
    }
  }

  async lastLogLine(taskId: number): Promise<number> {
    const r = await this.db.send(
      new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `LOG#${taskId}` }, ScanIndexForward: false, Limit: 1, ConsistentRead: true, ProjectionExpression: '#l', ExpressionAttributeNames: { '#l': 'last' } }),
    );
    return Number(r.Items?.[0]?.last ?? 0);
  }

  // ---------- artifacts and state ----------

  async putArtifact(a: Artifact): Promise<void> {
    await Promise.all([
      this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `ART#${a.artifact_id}`, sk: 'REF', ...a } })),
      this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `TASK#${a.task_id}`, sk: `ART#${a.artifact_id}`, ...a } })),
    ]);
  }

  listArtifacts(taskId: number): Promise<Artifact[]> {
    return this.queryAll<Artifact>(this.prefixQuery(`TASK#${taskId}`, 'ART#'));
  }

  getArtifact(artifactId: string): Promise<Artifact | null> {
    return this.get<Artifact>(`ART#${artifactId}`, 'REF');
  }

  async putCurrentState(workspaceId: string, version: StateVersion, outputs: Record<string, unknown>): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `WS#${workspaceId}`, sk: 'STATE', version, outputs } }));
  }

  getCurrentState(workspaceId: string): Promise<{ version: StateVersion; outputs: Record<string, unknown> } | null> {
    return this.get(`WS#${workspaceId}`, 'STATE');
  }
  // ---------- run tasks ----------

  private runTaskItem(rt: RunTask) {
    return { pk: `RT#${rt.run_task_id}`, sk: 'META', gsi1pk: 'RUNTASKS', gsi1sk: rt.name, ...rt };
  }

  createRunTask(rt: RunTask): Promise<boolean> {
    return this.putNew(this.runTaskItem(rt));
  }

  getRunTask(id: string): Promise<RunTask | null> {
    return this.get<RunTask>(`RT#${id}`, 'META');
  }

  listRunTasks(): Promise<RunTask[]> {
    return this.queryAll<RunTask>({ IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': 'RUNTASKS' } });
  }

  async putRunTask(rt: RunTask): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: this.runTaskItem(rt), ConditionExpression: 'attribute_exists(pk)' }));
  }

  async deleteRunTask(id: string): Promise<void> {
    const keys = [{ pk: `RT#${id}`, sk: 'META' }];
    for (const a of await this.listAttachmentsOfRunTask(id)) {
      keys.push({ pk: `WS#${a.workspace_id}`, sk: `WRT#${a.workspace_run_task_id}` }, { pk: `RTWS#${id}`, sk: a.workspace_run_task_id });
    }
    await this.deleteKeys(keys);
  }

  /** Attachments are stored twice: under the workspace (runs read them) and under the run task (counts, deletes). */
  private async writeAttachment(a: WorkspaceRunTask, condition?: string): Promise<boolean> {
    try {
      await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `WS#${a.workspace_id}`, sk: `WRT#${a.workspace_run_task_id}`, ...a }, ConditionExpression: condition }));
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `RTWS#${a.run_task_id}`, sk: a.workspace_run_task_id, ...a } }));
    return true;
  }

  createAttachment(a: WorkspaceRunTask): Promise<boolean> {
    return this.writeAttachment(a, 'attribute_not_exists(pk)');
  }

  async putAttachment(a: WorkspaceRunTask): Promise<void> {
    await this.writeAttachment(a);
  }

  listAttachments(workspaceId: string): Promise<WorkspaceRunTask[]> {
    return this.queryAll<WorkspaceRunTask>(this.prefixQuery(`WS#${workspaceId}`, 'WRT#'));
  }

  listAttachmentsOfRunTask(runTaskId: string): Promise<WorkspaceRunTask[]> {
    return this.queryAll<WorkspaceRunTask>({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `RTWS#${runTaskId}` }, ConsistentRead: true });
  }

  async deleteAttachment(a: WorkspaceRunTask): Promise<void> {
    await this.deleteKeys([
      { pk: `WS#${a.workspace_id}`, sk: `WRT#${a.workspace_run_task_id}` },
      { pk: `RTWS#${a.run_task_id}`, sk: a.workspace_run_task_id },
    ]);
  }

  // ---------- run-task results and outcomes ----------

  private resultKey(r: Pick<RunTaskResult, 'result_id' | 'task_id' | 'stage'>) {
    return { pk: `TASK#${r.task_id}`, sk: `RTR#${r.stage}#${r.result_id}` };
  }

  async createResults(results: RunTaskResult[]): Promise<void> {
    const items = results.flatMap((r) => [
      { pk: `RTR#${r.result_id}`, sk: 'REF', task_id: r.task_id, stage: r.stage },
      { ...this.resultKey(r), ...r },
    ]);
    await this.batchPut(items);
  }


  async getResult(resultId: string): Promise<RunTaskResult | null> {
    const ref = await this.get<{ task_id: number; stage: RunTaskResult['stage'] }>(`RTR#${resultId}`, 'REF');
    return ref ? this.getResultAt({ result_id: resultId, ...ref }) : null;
  }

  getResultAt(key: ResultKey): Promise<RunTaskResult | null> {
    const k = this.resultKey(key);
    return this.get<RunTaskResult>(k.pk, k.sk);
  }

  async linkResultToken(tokenHash: string, resultId: string): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `RTTOKEN#${tokenHash}`, sk: 'META', result_id: resultId } }));
  }

  async getResultIdByTokenHash(tokenHash: string): Promise<string | null> {
    return (await this.get<{ result_id: string }>(`RTTOKEN#${tokenHash}`, 'META'))?.result_id ?? null;
  }

  async updateResult(r: Pick<RunTaskResult, 'result_id' | 'task_id' | 'stage'>, changes: Partial<RunTaskResult>, whenStatus?: readonly ResultStatus[]): Promise<RunTaskResult | null> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    Object.entries(changes).forEach(([k, v], i) => {
      if (v === undefined) return;
      names[`#f${i}`] = k;
      values[`:v${i}`] = v;
      sets.push(`#f${i} = :v${i}`);
    });
    let condition = 'attribute_exists(pk)';
    if (whenStatus) {
      names['#status'] = 'status';
      condition += ` AND #status IN (${whenStatus.map((s, j) => ((values[`:s${j}`] = s), `:s${j}`)).join(', ')})`;
    }
    try {
      const out = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.resultKey(r),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip<RunTaskResult>(out.Attributes);
    } catch (err) {
      if (isConditionFailure(err)) return null;
      throw err;
    }
  }

  listResults(taskId: number): Promise<RunTaskResult[]> {
    return this.queryAll<RunTaskResult>(this.prefixQuery(`TASK#${taskId}`, 'RTR#'));
  }

  /** One item per outcome; a body beyond the item size continues in numbered part items. */
  async putOutcomes(resultId: string, outcomes: Outcome[]): Promise<void> {
    const items: Record<string, unknown>[] = [];
    outcomes.forEach((o, i) => {
      const idx = String(i).padStart(3, '0');
      const body = o.body ?? null;
      const parts = body && body.length > OUTCOME_BODY_PART ? Math.ceil(body.length / OUTCOME_BODY_PART) : 0;
      items.push({ pk: `RTR#${resultId}`, sk: `OUT#${idx}`, ...o, body: parts ? body!.slice(0, OUTCOME_BODY_PART) : body, body_parts: parts });
      for (let p = 1; p < parts; p++) {
        items.push({ pk: `RTR#${resultId}`, sk: `OUT#${idx}#${String(p).padStart(3, '0')}`, part: body!.slice(p * OUTCOME_BODY_PART, (p + 1) * OUTCOME_BODY_PART) });
      }
    });
    await this.batchPut(items);
  }

  async listOutcomes(resultId: string): Promise<Outcome[]> {
    const items = await this.queryAll<Record<string, unknown>>(this.prefixQuery(`RTR#${resultId}`, 'OUT#'));
    const out: Outcome[] = [];
    for (const item of items) {
      if ('part' in item) {
        const last = out[out.length - 1];
        last.body = (last.body ?? '') + (item.part as string);
        continue;
      }
      const { body_parts: _parts, ...o } = item;
      out.push(o as unknown as Outcome);
    }
    return out;
  }

  // ---------- live-log viewers ----------
  // WSCONN#<connection id>/META (gsi1 VIEWER#<user id>/<connection id>): an open WebSocket
  // CONN#<task>/<connection id> (gsi1 STREAMS/<task>#<connection id>): its subscription to a run
  // Both carry `ttl` (epoch seconds): API Gateway closes every connection within 2 hours, so an
  // item a lost $disconnect left behind expires on its own.

  async putViewerConnection(c: ViewerConnection): Promise<void> {
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: { pk: `WSCONN#${c.connection_id}`, sk: 'META', gsi1pk: `VIEWER#${c.user_id}`, gsi1sk: c.connection_id, ttl: viewerTtl(), ...c } }),
    );
  }

  async getViewerConnection(connectionId: string): Promise<ViewerConnection | null> {
    return withoutTtl(await this.get<ViewerConnection & { ttl?: number }>(`WSCONN#${connectionId}`, 'META'));
  }

  async deleteViewerConnection(connectionId: string): Promise<ViewerConnection | null> {
    const r = await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: `WSCONN#${connectionId}`, sk: 'META' }, ReturnValues: 'ALL_OLD' }));
    return withoutTtl(strip<ViewerConnection & { ttl?: number }>(r.Attributes));
  }

  async listViewerConnections(userId: string): Promise<ViewerConnection[]> {
    const items = await this.queryAll<ViewerConnection & { ttl?: number }>({ IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': `VIEWER#${userId}` } });
    return items.map((i) => withoutTtl(i)!);
  }

  async putSubscription(sub: Subscription): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `WSCONN#${sub.connection_id}`, sk: 'META' },
        UpdateExpression: 'SET task_id = :t',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':t': sub.task_id },
      }),
    ).catch((err) => {
      if (!isConditionFailure(err)) throw err; // the connection closed meanwhile: the subscription's 410 cleans up
    });
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: { pk: `CONN#${sub.task_id}`, sk: sub.connection_id, gsi1pk: 'STREAMS', gsi1sk: `${pad(sub.task_id)}#${sub.connection_id}`, ttl: viewerTtl(), ...sub } }),
    );
  }

  async listSubscriptions(taskId: number): Promise<Subscription[]> {
    const items = await this.queryAll<Subscription & { ttl?: number }>({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `CONN#${taskId}` }, ConsistentRead: true });
    return items.map((i) => withoutTtl(i)!);
  }

  async listAllSubscriptions(): Promise<Subscription[]> {
    const items = await this.queryAll<Subscription & { ttl?: number }>({ IndexName: 'gsi1', KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': 'STREAMS' } });
    return items.map((i) => withoutTtl(i)!);
  }

  async deleteSubscription(taskId: number, connectionId: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: `CONN#${taskId}`, sk: connectionId } }));
  }

  async handOverSubscription(
    taskId: number,
    connectionId: string,
    from: { owner: Subscription['owner']; epoch: string; unadopted?: boolean },
    to: { owner: Subscription['owner']; epoch: string; through: number },
  ): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `CONN#${taskId}`, sk: connectionId },
          UpdateExpression: 'SET #o = :to, epoch = :te, through = :th REMOVE adopted',
          ConditionExpression: `#o = :fo AND epoch = :fe${from.unadopted ? ' AND attribute_not_exists(adopted)' : ''}`,
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':to': to.owner, ':te': to.epoch, ':th': to.through, ':fo': from.owner, ':fe': from.epoch },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async adoptSubscription(taskId: number, connectionId: string, epoch: string, adopted: string, previous: string | undefined): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `CONN#${taskId}`, sk: connectionId },
          UpdateExpression: 'SET adopted = :a',
          ConditionExpression: `#o = :live AND epoch = :e AND ${previous === undefined ? 'attribute_not_exists(adopted)' : 'adopted = :prev'}`,
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':a': adopted, ':live': 'live', ':e': epoch, ...(previous === undefined ? {} : { ':prev': previous }) },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async claimSubscriptionCompleted(taskId: number, connectionId: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `CONN#${taskId}`, sk: connectionId },
          UpdateExpression: 'SET completed = :t',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(completed)',
          ExpressionAttributeValues: { ':t': true },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }


  // ---------- audit chain ----------

  getAuditHead(): Promise<{ seq: number; hash: string } | null> {
    return this.get<{ seq: number; hash: string }>('AUDIT', 'HEAD');
  }

  async appendAuditEvent(event: AuditEvent, prevSeq: number): Promise<boolean> {
    // The head moves first (conditionally): the winner of a race owns `seq`, then writes the event.
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: 'AUDIT', sk: 'HEAD', seq: event.seq, hash: event.hash },
          ConditionExpression: prevSeq === 0 ? 'attribute_not_exists(pk)' : 'seq = :prev',
          ExpressionAttributeValues: prevSeq === 0 ? undefined : { ':prev': prevSeq },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: 'AUDIT', sk: `EV#${pad(event.seq)}`, ...event } }));
    return true;
  }

  async *readAuditEvents(afterSeq: number): AsyncIterable<AuditEvent[]> {
    for await (const page of this.queryPages({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': 'AUDIT', ':from': `EV#${pad(afterSeq + 1)}`, ':to': 'EV#~' },
      ConsistentRead: true,
    })) {
      yield page.map((i) => strip<AuditEvent>(i)!);
    }
  }
}

/** Viewer items outlive API Gateway's 2-hour connection cap by an hour, then expire (TTL). */
const VIEWER_TTL_SECONDS = 3 * 3600;
const viewerTtl = () => Math.floor(Date.now() / 1000) + VIEWER_TTL_SECONDS;

function withoutTtl<T extends object>(item: (T & { ttl?: number }) | null): T | null {
  if (!item) return null;
  const { ttl: _ttl, ...rest } = item;
  return rest as T;
}

/** Outcome bodies up to this size live in the item; larger ones (≤ 5 MiB) are split across items. */
const OUTCOME_BODY_PART = 300 * 1024;

/** Table definition shared by the embedded DynamoDB and tests (CDK declares the same keys). */
export const TABLE_SCHEMA = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
    { AttributeName: 'gsi1pk', AttributeType: 'S' },
    { AttributeName: 'gsi1sk', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: 'gsi1',
      KeySchema: [
        { AttributeName: 'gsi1pk', KeyType: 'HASH' },
        { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
} as const;
