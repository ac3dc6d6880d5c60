/** The DynamoDB store against the embedded DynamoDB (dynalite), through the real AWS SDK client. */
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { AuditLog } from '../../functions/core/audit.js';
import { emptySummary, type LogMessage } from '../../functions/core/logs.js';
import type { Task } from '../../functions/core/model.js';
import { createDocumentClient, DynamoStore } from '../../functions/adapters/dynamodb/store.js';
import { startDynamo, type EmbeddedDynamo } from '../../local/dynamodb.js';

let dynamo: EmbeddedDynamo;
let store: DynamoStore;
const doc = () => createDocumentClient(dynamo.client);

beforeAll(async () => {
  dynamo = await startDynamo(undefined, 'runway');
  store = new DynamoStore(doc(), 'runway');
});
afterAll(() => dynamo.stop());

function task(id: number, ws: string, status: Task['status'] = 'pending'): Task {
  return {
    task_id: id, workspace_id: ws, task_type: 'plan', status, stage: null, description: '', configuration_version_id: 'cv-x',
    created_by: 'admin', created_at: new Date().toISOString(), started_at: null, completed_at: null, duration: null,
    plan_changes: null, stage_timings: {}, error_message: null, log_summary: emptySummary(), log_last_line: 0,
  };
}

describe('workspace lock', () => {
  it('lets exactly one of many concurrent runs take the lock, and only the holder release it', async () => {
    const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => store.acquireLock('ws-lock', i + 1)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    const holder = wins.indexOf(true) + 1;
    expect(await store.getLockHolder('ws-lock')).toBe(holder);
    await store.releaseLock('ws-lock', holder === 1 ? 2 : 1); // not the holder: nothing happens
    expect(await store.getLockHolder('ws-lock')).toBe(holder);
    await store.releaseLock('ws-lock', holder);
    expect(await store.getLockHolder('ws-lock')).toBeNull();
  });
});

describe('tasks', () => {
  it('hands out increasing ids and applies conditional status changes once', async () => {
    const a = await store.nextTaskId();
    const b = await store.nextTaskId();
    expect(b).toBe(a + 1);
    await store.createTask(task(a, 'ws-t', 'apply_pending'));
    const [first, second] = await Promise.all([
      store.updateTask({ task_id: a, workspace_id: 'ws-t' }, { status: 'running' }, ['apply_pending']),
      store.updateTask({ task_id: a, workspace_id: 'ws-t' }, { status: 'running' }, ['apply_pending']),
    ]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    expect((await store.getTask(a))!.status).toBe('running');
    expect((await store.listTasksByStatus('running')).map((t) => t.task_id)).toContain(a);
  });

  it('lists a workspace queue oldest first and its history newest first', async () => {
    for (const id of [101, 102, 103]) await store.createTask(task(id, 'ws-q'));
    await store.updateTask({ task_id: 101, workspace_id: 'ws-q' }, { status: 'success' });
    expect((await store.listPendingTasks('ws-q')).map((t) => t.task_id)).toEqual([102, 103]);
    expect((await store.listTasks('ws-q', {})).map((t) => t.task_id)).toEqual([103, 102, 101]);
    expect((await store.listTasks('ws-q', { status: 'success' })).map((t) => t.task_id)).toEqual([101]);
  });
});

describe('log chunks', () => {
  it('replays every line after any line number, across chunk boundaries, and knows the last line', async () => {
    const at = new Date().toISOString();
    const msg = (n: number): LogMessage => ({ type: 'output', line: `line ${n}`, timestamp: at, line_num: n, stream: 'stdout', phase: 'plan' });
    for (let start = 1; start <= 250; start += 50) await store.putLogChunk(9, Array.from({ length: 50 }, (_, i) => msg(start + i)));
    for (const after of [0, 1, 49, 50, 51, 199, 249, 250]) {
      const got: number[] = [];
      for await (const chunk of store.readLog(9, after)) got.push(...chunk.map((m) => m.line_num));
      expect(got).toEqual(Array.from({ length: 250 - after }, (_, i) => after + 1 + i));
    }
    expect(await store.lastLogLine(9)).toBe(250);
    expect(await store.lastLogLine(10)).toBe(0);
  });

  it('stores a large chunk compressed and a small one as JSON, and reads both', async () => {
    const at = new Date().toISOString();
    const lines = Array.from({ length: 1000 }, (_, i): LogMessage => ({ type: 'output', line: `terraform_data.out (local-exec): line ${i + 1}`, timestamp: at, line_num: i + 1, stream: 'stdout', phase: 'apply' }));
    await store.putLogChunk(11, lines);
    const raw = (await doc().send(new GetCommand({ TableName: 'runway', Key: { pk: 'LOG#11', sk: String(1000).padStart(12, '0') } }))).Item!;
    expect(raw.gz).toBeInstanceOf(Uint8Array);
    expect((raw.gz as Uint8Array).length * 5).toBeLessThan(JSON.stringify(lines).length);

    const older = lines.slice(0, 2);
    await doc().send(new PutCommand({ TableName: 'runway', Item: { pk: 'LOG#12', sk: String(2).padStart(12, '0'), first: 1, last: 2, messages: JSON.stringify(older) } }));
    await store.putLogChunk(12, [{ ...lines[2], line_num: 3 }]);
    const got: LogMessage[] = [];
    for await (const chunk of store.readLog(12, 0)) got.push(...chunk);
    expect(got.map((m) => [m.line_num, m.line])).toEqual([1, 2, 3].map((n) => [n, `terraform_data.out (local-exec): line ${n}`]));
  });
});

describe('workspaces', () => {
  it('keeps names unique, finds by id or name, and frees a name on rename', async () => {
    const now = new Date().toISOString();
    const ws = { workspace_id: 'ws-a1', name: 'alpha', description: '', terraform_version: '1.11', execution_mode: 'plan_and_apply' as const, auto_apply: false, working_directory: '', apply_requires_admin: false, team_id: null, created_by: 'x', created_at: now, updated_at: now };
    await store.createWorkspace(ws);
    await expect(store.createWorkspace({ ...ws, workspace_id: 'ws-a2' })).rejects.toMatchObject({ status: 409 });
    expect((await store.getWorkspace('alpha'))!.workspace_id).toBe('ws-a1');
    await store.updateWorkspace({ ...ws, name: 'beta' }, 'alpha');
    expect(await store.getWorkspace('alpha')).toBeNull();
    expect((await store.getWorkspace('ws-a1'))!.name).toBe('beta');
    await store.createWorkspace({ ...ws, workspace_id: 'ws-a3' }); // "alpha" is free again
  });
});

describe('audit chain', () => {
  it('chains concurrent appends without gaps and names the first edited or deleted event', async () => {
    const audit = new AuditLog(store);
    await Promise.all(Array.from({ length: 12 }, (_, i) => audit.append({ actor: 'admin', action: 'workspace.create', resource: `workspaces/w${i}`, details: { i, token: 'should-not-appear' } })));
    expect(await audit.verify()).toEqual({ ok: true, events: 12, first_bad_event_id: null });
    const events = await audit.list({});
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(JSON.stringify(events)).not.toContain('should-not-appear');

    // Edit event 5 directly in DynamoDB.
    const fifth = events[4];
    await doc().send(new PutCommand({ TableName: 'runway', Item: { pk: 'AUDIT', sk: `EV#${String(5).padStart(12, '0')}`, ...fifth, actor: 'mallory' } }));
    expect(await audit.verify()).toMatchObject({ ok: false, first_bad_event_id: 'ae-5' });
    await doc().send(new PutCommand({ TableName: 'runway', Item: { pk: 'AUDIT', sk: `EV#${String(5).padStart(12, '0')}`, ...fifth } }));
    expect((await audit.verify()).ok).toBe(true);

    // Delete event 8.
    await doc().send(new DeleteCommand({ TableName: 'runway', Key: { pk: 'AUDIT', sk: `EV#${String(8).padStart(12, '0')}` } }));
    expect(await audit.verify()).toMatchObject({ ok: false, first_bad_event_id: 'ae-9' });
  });
});
