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
 *   LOG#<n>/<last line_num>                                          log chunks
 *   TASK#<n>/ART#<id>, ART#<id>/REF                                  artifacts
 *   COUNTER/TASK                                                     task ids
 */
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
import type { LogMessage } from '../../core/logs.js';
import type { Artifact, ConfigurationVersion, StateVersion, Task, TaskStatus, User, Variable, Workspace } from '../../core/model.js';
import type { Store } from '../../core/ports.js';

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

  private async deleteKeys(keys: { pk: string; sk: string }[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 25) {
      let requests: unknown[] = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      while (requests.length > 0) {
        const r = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.table]: requests as never } }));
        requests = r.UnprocessedItems?.[this.table] ?? [];
      }
    }
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

  async releaseLock(workspaceId: string, taskId: number): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({ TableName: this.table, Key: { pk: `WS#${workspaceId}`, sk: 'LOCK' }, ConditionExpression: 'task_id = :t', ExpressionAttributeValues: { ':t': taskId } }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err; // someone else's lock, or none: nothing to release
    }
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
        Item: { pk: `LOG#${taskId}`, sk: pad(last), first: messages[0].line_num, last, messages: JSON.stringify(messages) },
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
        const messages = JSON.parse(item.messages as string) as LogMessage[];
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
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `ART#${a.artifact_id}`, sk: 'REF', ...a } }));
    await this.db.send(new PutCommand({ TableName: this.table, Item: { pk: `TASK#${a.task_id}`, sk: `ART#${a.artifact_id}`, ...a } }));
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
}

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
