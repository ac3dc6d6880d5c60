/**
 * The hand-over between the subscribe handler (history) and the posters (runner sink, Finalize),
 * against the real DynamoDB store (embedded): each race of core/viewers.ts forced at its worst
 * moment by a hook on the store, the viewer's connection recorded at the management-API port.
 */
import { DynamoStore, createDocumentClient } from '../../functions/adapters/dynamodb/store.js';
import { LogWriter } from '../../functions/core/logs.js';
import type { Task } from '../../functions/core/model.js';
import type { ConnectionsApi, PostResult, Store } from '../../functions/core/ports.js';
import { announceCompleted, CLOSE_REASONS, LiveLogSink, subscribe } from '../../functions/core/viewers.js';
import { startDynamo, type EmbeddedDynamo } from '../../local/dynamodb.js';
import { sequenceProblem, type ViewerMessage } from '../support/viewer.js';

/** The management API as the viewer sees it: every message posted, in order. */
class RecordingConnections implements ConnectionsApi {
  readonly posted = new Map<string, string[]>();
  readonly closed = new Map<string, string | undefined>();
  readonly answers = new Map<string, PostResult>();

  async post(id: string, data: string | Uint8Array): Promise<PostResult> {
    const forced = this.answers.get(id);
    if (forced) return forced;
    if (this.closed.has(id)) return 'gone';
    this.posted.set(id, [...(this.posted.get(id) ?? []), Buffer.from(data).toString('utf8')]);
    return 'ok';
  }

  async exists(id: string): Promise<boolean> {
    return !this.closed.has(id);
  }

  async close(id: string, reason?: string): Promise<void> {
    this.closed.set(id, reason);
  }

  messages(id: string): ViewerMessage[] {
    return (this.posted.get(id) ?? []).flatMap((f) => {
      const parsed = JSON.parse(f) as ViewerMessage | ViewerMessage[];
      return Array.isArray(parsed) ? parsed : [parsed];
    });
  }
}

type Hook = (result: unknown, args: unknown[]) => Promise<void>;

/** The store, with one-shot hooks run before or after a method (to stage a race). */
function hooked(store: Store, before: Partial<Record<keyof Store, Hook>>, after: Partial<Record<keyof Store, Hook>>): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const name = prop as keyof Store;
      if (!(name in before) && !(name in after)) return value.bind(target);
      return async (...args: unknown[]) => {
        const b = before[name];
        if (b) {
          delete before[name];
          await b(undefined, args);
        }
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        const a = after[name];
        if (a) {
          delete after[name];
          await a(result, args);
        }
        return result;
      };
    },
  });
}

let dynamo: EmbeddedDynamo;
let store: DynamoStore;
const WS = 'ws-handover';

beforeAll(async () => {
  dynamo = await startDynamo(undefined, 'runway');
  store = new DynamoStore(createDocumentClient(dynamo.client), 'runway');
  const now = new Date().toISOString();
  await store.createWorkspace({
    workspace_id: WS, name: 'handover', description: '', terraform_version: '1.11', execution_mode: 'plan_and_apply', auto_apply: true,
    working_directory: '', apply_requires_admin: false, team_id: null, created_by: 'admin', created_at: now, updated_at: now,
  });
});

afterAll(async () => {
  await dynamo?.stop();
});

async function runningTask(): Promise<Task> {
  const now = new Date().toISOString();
  const task: Task = {
    task_id: await store.nextTaskId(), workspace_id: WS, task_type: 'plan', status: 'running', stage: 'planning', description: '',
    configuration_version_id: 'cv-x', created_by: 'admin', created_at: now, started_at: now, completed_at: null, duration: null,
    plan_changes: null, stage_timings: {}, error_message: null, log_summary: { plan_lines: 0, apply_lines: 0, has_errors: false, last_line: '' }, log_last_line: 0,
  };
  await store.createTask(task);
  return task;
}

let connectionCounter = 0;
async function connection(): Promise<string> {
  const id = `conn-${++connectionCounter}`;
  await store.putViewerConnection({ connection_id: id, user_id: 'user-admin', username: 'admin', role: 'admin', teams: [], connected_at: new Date().toISOString() });
  return id;
}

/** Stores `n` lines (and hands them to `sink` when given), as a runner's LogWriter does. */
async function write(s: Store, taskId: number, n: number, sink?: LiveLogSink): Promise<void> {
  const writer = new LogWriter({ taskId, startAfter: await s.lastLogLine(taskId), store: s, sink });
  for (let i = 0; i < n; i++) writer.output('stdout', `line ${writer.lastLine + 1}`, 'plan');
  await writer.flush();
}

async function end(taskId: number, s: Store, api: ConnectionsApi) {
  const task = (await store.getTask(taskId))!;
  await store.updateTask(task, { status: 'success', completed_at: new Date().toISOString() });
  await announceCompleted({ store: s, connections: api }, taskId);
}

const completions = (api: RecordingConnections, id: string) => api.messages(id).filter((m) => m.type === 'completed').length;

test('a batch stored while the viewer registers is replayed, then the stream goes live', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  const sink = new LiveLogSink(store, api);
  const conn = await connection();
  // Registered as 'replay': the sink skips it, the replay that follows finds the batch.
  const s = hooked(store, {}, { putSubscription: () => write(store, task.task_id, 5, sink) });
  await subscribe({ store: s, connections: api }, conn, { task_id: task.task_id });
  expect(api.messages(conn)[0]).toEqual({ type: 'connected', task_id: task.task_id, client_id: conn });
  await write(store, task.task_id, 3, sink);
  await end(task.task_id, store, api);
  expect(sequenceProblem(api.messages(conn))).toBeNull();
  expect(api.messages(conn).filter((m) => m.type === 'output')).toHaveLength(8);
});

test('lines stored during the hand-over, with no batch after them, are taken back and replayed', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  const sink = new LiveLogSink(store, api);
  await write(store, task.task_id, 3, sink);
  const conn = await connection();
  // Stored (and skipped by the sink) after the replay read, before the subscription went live.
  const s = hooked(store, { handOverSubscription: () => write(store, task.task_id, 3, sink) }, {});
  await subscribe({ store: s, connections: api }, conn, { task_id: task.task_id });
  expect(api.messages(conn).filter((m) => m.type === 'output').map((m) => m.line_num)).toEqual([1, 2, 3, 4, 5, 6]);
  await end(task.task_id, store, api);
  expect(sequenceProblem(api.messages(conn))).toBeNull();
});

test('a poster that adopts the subscription during the hand-over sends the gap from the store; subscribe leaves it', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  const sink = new LiveLogSink(store, api);
  await write(store, task.task_id, 3, sink);
  const conn = await connection();
  const s = hooked(
    store,
    // lines 4–5: stored while the subscription is still 'replay' (the sink skips it)
    { handOverSubscription: () => write(store, task.task_id, 2, sink) },
    // lines 6–7: the sink finds it live, adopts it and sends 4–7
    { handOverSubscription: () => write(store, task.task_id, 2, sink) },
  );
  await subscribe({ store: s, connections: api }, conn, { task_id: task.task_id });
  expect((await store.listSubscriptions(task.task_id))[0]).toMatchObject({ owner: 'live', adopted: expect.any(String) });
  await write(store, task.task_id, 2, sink);
  await end(task.task_id, store, api);
  expect(sequenceProblem(api.messages(conn))).toBeNull();
  expect(api.messages(conn).filter((m) => m.type === 'output')).toHaveLength(9);
});

test('a run that ends between register and replay: history first, then completed, once', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  await write(store, task.task_id, 4);
  const conn = await connection();
  // Finalize runs while the subscription is 'replay': it leaves `completed` to the subscribe handler.
  const s = hooked(store, {}, { putSubscription: () => end(task.task_id, store, api) });
  await subscribe({ store: s, connections: api }, conn, { task_id: task.task_id });
  expect(sequenceProblem(api.messages(conn))).toBeNull();
  expect(completions(api, conn)).toBe(1);
  expect(api.messages(conn).at(-1)).toMatchObject({ type: 'completed', status: 'success', last_line: 4 });
  // Finalize again (a retry) sends nothing more: the subscription is gone once completed.
  await announceCompleted({ store, connections: api }, task.task_id);
  expect(completions(api, conn)).toBe(1);
});

test('a run that ended before the subscribe: the whole history, then completed at once', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  await write(store, task.task_id, 2500);
  await end(task.task_id, store, api);
  const conn = await connection();
  await subscribe({ store, connections: api }, conn, { task_id: task.task_id, after_line: 0 });
  expect(sequenceProblem(api.messages(conn))).toBeNull();
  for (const frame of api.posted.get(conn)!) expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(32 * 1024);
});

test('Finalize sends what no poster sent, then completed', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  await write(store, task.task_id, 3);
  const conn = await connection();
  await subscribe({ store, connections: api }, conn, { task_id: task.task_id });
  await write(store, task.task_id, 2); // stored by a writer without a sink
  await end(task.task_id, store, api);
  expect(sequenceProblem(api.messages(conn))).toBeNull();
  expect(api.messages(conn).at(-1)).toMatchObject({ type: 'completed', last_line: 5 });
});

test('a later poster (the apply runner) continues where the earlier one (the plan runner) stopped', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  const conn = await connection();
  await subscribe({ store, connections: api }, conn, { task_id: task.task_id });
  await write(store, task.task_id, 3, new LiveLogSink(store, api));
  await write(store, task.task_id, 3, new LiveLogSink(store, api));
  await end(task.task_id, store, api);
  expect(sequenceProblem(api.messages(conn))).toBeNull();
});

test('a viewer whose buffer is full (429) is closed with a reason to reconnect; one that is gone (410) is forgotten; the others go on', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  const sink = new LiveLogSink(store, api);
  const [slow, gone, fine] = [await connection(), await connection(), await connection()];
  for (const c of [slow, gone, fine]) await subscribe({ store, connections: api }, c, { task_id: task.task_id });
  api.answers.set(slow, 'throttled');
  api.answers.set(gone, 'gone');
  await write(store, task.task_id, 5, sink);
  expect(api.closed.get(slow)).toBe(CLOSE_REASONS.tooSlow);
  expect(api.closed.has(gone)).toBe(false);
  expect(await store.getViewerConnection(gone)).toBeNull();
  expect(await store.getViewerConnection(slow)).not.toBeNull(); // until its $disconnect
  expect((await store.listSubscriptions(task.task_id)).map((s) => s.connection_id)).toEqual([fine]);
  await write(store, task.task_id, 5, sink);
  await end(task.task_id, store, api);
  expect(sequenceProblem(api.messages(fine))).toBeNull();
});

test('re-subscribing with a lower after_line repeats lines only at the seam', async () => {
  const api = new RecordingConnections();
  const task = await runningTask();
  const sink = new LiveLogSink(store, api);
  const conn = await connection();
  await subscribe({ store, connections: api }, conn, { task_id: task.task_id });
  await write(store, task.task_id, 6, sink);
  await subscribe({ store, connections: api }, conn, { task_id: task.task_id, after_line: 4 });
  await write(store, task.task_id, 2, sink);
  const nums = api.messages(conn).filter((m) => m.type === 'output').map((m) => m.line_num);
  expect(nums).toEqual([1, 2, 3, 4, 5, 6, 5, 6, 7, 8]);
});
