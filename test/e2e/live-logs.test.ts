/**
 * Live logs end to end (SPEC §6): the embedded default with real terraform, viewers over real
 * WebSockets, the runner posting through the real management-API client to the local
 * `@connections` endpoint.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded, type Embedded } from '../../local/embedded.js';
import { apiClient, createWorkspace, startTask, uniqueName, uploadConfig, waitForEnd, waitForStatus, type ApiClient } from '../support/runway.js';
import { isLine, sequenceProblem, Viewer, type LineMessage } from '../support/viewer.js';

/** Small, so that a viewer that stops reading overflows it during the burst. */
const SEND_BUFFER_BYTES = 256 * 1024;

let app: Embedded;
let api: ApiClient;
let dataDir: string;
let wsUrl: string;
const open: Viewer[] = [];

async function viewer(token: string = app.adminToken): Promise<Viewer> {
  const v = await Viewer.open(wsUrl, token);
  open.push(v);
  return v;
}

async function member(name: string): Promise<string> {
  const res = await api.post('/users', { username: uniqueName(name), role: 'member' });
  expect(res.status).toBe(201);
  return res.body.token;
}

/** A workspace with `main.tf` whose local-exec runs `command` at apply; auto-applied. */
async function workspaceRunning(command: string, vars: Record<string, { value: string; category: 'terraform' | 'env'; sensitive?: boolean }> = {}) {
  const name = uniqueName('live');
  await createWorkspace(api, { name, auto_apply: true });
  for (const [key, v] of Object.entries(vars)) expect((await api.put(`/workspaces/${name}/variables/${key}`, v)).status).toBeLessThan(300);
  const hcl = `resource "terraform_data" "out" {\n  provisioner "local-exec" {\n    command = ${JSON.stringify(command)}\n  }\n}\n`;
  await uploadConfig(api, name, { 'main.tf': hcl });
  return { name, start: () => startTask(api, name, 'plan_and_apply') };
}

/** What the run stored, as GET /tasks/:id/logs?format=text shows it (one string per line). */
async function storedText(taskId: number): Promise<string> {
  const res = await api.get(`/tasks/${taskId}/logs?format=text`);
  expect(res.status).toBe(200);
  return res.body as string;
}

const texts = (lines: LineMessage[]) => lines.map((m) => m.line);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'runway-live-'));
  const adminToken = `rwadmin_test_${randomBytes(16).toString('hex')}`;
  app = await startEmbedded({ dataDir, port: 0, adminToken, env: { ...process.env, WEBSOCKET_SEND_BUFFER_BYTES: String(SEND_BUFFER_BYTES) } });
  api = apiClient(app.url, adminToken);
  wsUrl = (await api.get('/meta')).body.websocket_url;
});

afterEach(() => {
  for (const v of open.splice(0)) v.terminate();
});

afterAll(async () => {
  await app?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('GET /meta names the WebSocket URL of this server', () => {
  expect(wsUrl).toBe(`ws://127.0.0.1:${app.port}/ws`);
});

test('twenty viewers, joining before and during the run, get the same complete sequence; sensitive values are masked', async () => {
  const secret = `s3cr3t-${randomBytes(6).toString('hex')}`;
  const ws = await workspaceRunning('for i in $(seq 1 150); do echo "tick $i"; sleep 0.02; done; echo "the secret is $LIVE_SECRET"', {
    LIVE_SECRET: { value: secret, category: 'env', sensitive: true },
  });
  // Seed 001's limit is 10 connections per user: two users, ten viewers each.
  const [alice, bob] = [await member('alice'), await member('bob')];
  const task = await ws.start();

  const early = await Promise.all(Array.from({ length: 10 }, () => viewer(alice)));
  for (const v of early) v.subscribe(task.task_id);
  await Promise.all(early.map((v) => v.waitFor((m) => m.type === 'connected', 'connected')));
  // The rest join while terraform prints (subscribe first, then replay: no gap at the seam).
  await early[0].waitFor((m) => isLine(m) && m.line.includes('tick 40'), 'tick 40');
  const late = await Promise.all(Array.from({ length: 10 }, () => viewer(bob)));
  for (const v of late) v.subscribe(task.task_id, 0);
  await Promise.all(late.map((v) => v.waitFor((m) => m.type === 'connected', 'connected')));

  const stats = await api.get('/terraform/streams/stats');
  expect(stats.status).toBe(200);
  const stream = stats.body.streams.find((s: { task_id: number }) => s.task_id === task.task_id);
  expect(stream).toMatchObject({ task_id: task.task_id, clients_count: 20, closed: false });
  expect(stream.lines).toBeGreaterThan(0);
  expect(stats.body.count).toBe(stats.body.streams.length);

  const all = [...early, ...late];
  await Promise.all(all.map((v) => v.completed(90_000)));
  const ended = await waitForEnd(api, task.task_id);
  expect(ended.status).toBe('success');

  for (const v of all) expect(sequenceProblem(v.messages)).toBeNull();
  const reference = JSON.stringify(all[0].lines());
  for (const v of all) expect(JSON.stringify(v.lines())).toBe(reference);
  const completed = all[0].messages.find((m) => m.type === 'completed')!;
  expect(completed).toMatchObject({ type: 'completed', status: 'success', task_id: task.task_id });

  // The same lines as stored, none missing, and the secret masked in both.
  const lines = all[0].lines();
  expect(lines.filter((m) => /tick \d+$/.test(m.line))).toHaveLength(150);
  expect(lines.some((m) => m.type === 'stage_marker' && m.stage === 'applying' && m.status === 'begin')).toBe(true);
  expect(texts(lines).join('\n')).toContain('the secret is ***');
  expect(JSON.stringify(all.map((v) => v.messages))).not.toContain(secret);
  const stored = await storedText(task.task_id);
  expect(stored).not.toContain(secret);
  for (const m of lines) expect(stored).toContain(m.line);
  expect(completed.last_line).toBe(lines.length);
});

test('a viewer that reconnects with after_line misses nothing, whether it left or the server closed it (the 2-hour cap)', async () => {
  const ws = await workspaceRunning('for i in $(seq 1 120); do echo "step $i"; sleep 0.02; done');
  const task = await ws.start();

  const first = await viewer();
  first.subscribe(task.task_id);
  await first.waitFor((m) => isLine(m) && m.line.includes('step 30'), 'step 30');
  await first.close();
  const leftAt = first.lastLine();

  const second = await viewer();
  second.subscribe(task.task_id, leftAt);
  const connected = await second.waitFor((m) => m.type === 'connected', 'connected');
  await second.waitFor((m) => isLine(m) && m.line.includes('step 70'), 'step 70');
  // API Gateway closes every connection after 2 hours; the server side of that is DeleteConnection.
  await app.deps.connections!.close(connected.client_id as string);
  const why = await second.closed;
  expect(why.code).toBe(1000);
  const closedAt = second.lastLine();

  const third = await viewer();
  third.subscribe(task.task_id, closedAt);
  await third.completed(60_000);
  expect(await waitForEnd(api, task.task_id)).toMatchObject({ status: 'success' });

  expect(second.lines()[0].line_num).toBe(leftAt + 1);
  expect(third.lines()[0].line_num).toBe(closedAt + 1);
  const joined = [...first.messages.filter((m) => m.type !== 'completed'), ...second.lines(), ...third.messages];
  expect(sequenceProblem(joined)).toBeNull();
  expect(texts(joined.filter(isLine)).filter((l) => /step \d+$/.test(l))).toHaveLength(120);
});

test('a late viewer gets the whole history, then completed at once', async () => {
  const ws = await workspaceRunning('seq 1 500');
  const task = await ws.start();
  // The whole run on failure: its error_message says why.
  expect(await waitForEnd(api, task.task_id)).toMatchObject({ status: 'success' });

  const late = await viewer();
  late.subscribe(task.task_id);
  const completed = await late.completed(30_000);
  expect(sequenceProblem(late.messages)).toBeNull();
  expect(completed).toMatchObject({ status: 'success', task_id: task.task_id });
  const stored = (await storedText(task.task_id)).split('\n');
  for (const l of texts(late.lines())) expect(stored).toContain(l);
  expect(late.lines().filter((m) => / \(local-exec\): \d+$/.test(m.line))).toHaveLength(500);

  // With after_line: only what comes after it, then completed.
  const resumed = await viewer();
  resumed.subscribe(task.task_id, 100);
  await resumed.completed(30_000);
  expect(sequenceProblem(resumed.messages, 101)).toBeNull();
});

test('lines keep their characters, and each its own timestamp: when the runner read it, not when it was stored', async () => {
  const ws = await workspaceRunning("echo 'héllo wörld ✓ 日本語 🚀'; sleep 1; echo 'a second later'");
  const task = await ws.start();
  const v = await viewer();
  v.subscribe(task.task_id);
  await v.completed(60_000);
  expect(sequenceProblem(v.messages)).toBeNull();
  const line = (text: string) => v.lines().find((m) => m.line.endsWith(`(local-exec): ${text}`));
  const first = line('héllo wörld ✓ 日本語 🚀');
  const second = line('a second later');
  expect(first).toBeDefined();
  expect(second).toBeDefined();
  expect(Date.parse(second!.timestamp) - Date.parse(first!.timestamp)).toBeGreaterThanOrEqual(900);
  expect(await storedText(task.task_id)).toContain('(local-exec): héllo wörld ✓ 日本語 🚀');
});

test('a 20 000-line burst is delivered and stored whole; a viewer that stops reading holds up neither the run nor the others', async () => {
  const wide = '.'.repeat(200);
  const ws = await workspaceRunning(`seq -f 'burst line %g ${wide}' 1 20000`);
  const task = await ws.start();
  const readers = await Promise.all([viewer(), viewer(), viewer()]);
  const stalled = await viewer();
  for (const v of [...readers, stalled]) v.subscribe(task.task_id);
  await stalled.waitFor((m) => m.type === 'connected', 'connected');
  stalled.stall();

  // If the server waited on the stalled viewer, neither the run nor the readers would finish.
  await Promise.all(readers.map((v) => v.completed(120_000)));
  const ended = await waitForEnd(api, task.task_id, 120_000);
  expect(ended.status).toBe('success');
  for (const v of readers) expect(sequenceProblem(v.messages)).toBeNull();
  const isBurst = (l: string) => /\(local-exec\): burst line \d+ /.test(l);
  const burst = (v: Viewer) => v.lines().filter((m) => isBurst(m.line));
  for (const v of readers) expect(burst(v)).toHaveLength(20_000);
  expect(burst(readers[0]).map((m) => Number(/burst line (\d+)/.exec(m.line)![1]))).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
  const stored = await storedText(task.task_id);
  expect(stored.split('\n').filter(isBurst)).toHaveLength(20_000);

  // The stalled viewer fell behind and was dropped; what it got is a gap-free prefix, and it
  // resumes with after_line.
  stalled.resume();
  await stalled.closed;
  const prefix = stalled.messages.filter((m) => m.type !== 'connected');
  expect(prefix.some((m) => m.type === 'completed')).toBe(false);
  prefix.forEach((m, i) => expect(isLine(m) && m.line_num).toBe(i + 1));
  const again = await viewer();
  again.subscribe(task.task_id, stalled.lastLine());
  await again.completed(60_000);
  expect(sequenceProblem([...prefix, ...again.messages])).toBeNull();
});

test('a wrong or missing token is refused at connect; a bad subscribe is answered naming the field', async () => {
  await expect(Viewer.open(wsUrl, 'not-a-token')).rejects.toMatchObject({ status: 401 });
  await expect(Viewer.open(wsUrl, null)).rejects.toMatchObject({ status: 401 });

  const v = await viewer();
  v.send({ action: 'subscribe', task_id: 'abc' });
  expect(await v.waitFor((m) => m.type === 'request_error', 'an error')).toMatchObject({ error: 'validation_error', message: expect.stringContaining('task_id') });
  v.send({ action: 'subscribe', task_id: 1, after_line: -1 });
  expect(await v.waitFor((m) => m.type === 'request_error' && m.message.includes('after_line'), 'an after_line error')).toMatchObject({ error: 'validation_error' });
  v.send({ action: 'subscribe', task_id: 999_999 });
  expect(await v.waitFor((m) => m.type === 'request_error' && m.error === 'not_found', 'not found')).toMatchObject({ message: 'task 999999 not found' });
  v.send({ action: 'tail' });
  expect(await v.waitFor((m) => m.type === 'request_error' && m.error === 'unknown_action', 'unknown action')).toBeTruthy();
  v.send({ action: 'ping' });
  expect(await v.waitFor((m) => m.type === 'pong', 'pong')).toBeTruthy();
});

test('viewer limits per run and per user close the connection with a clear reason', async () => {
  const ws = await workspaceRunning('echo hello');
  const task = await ws.start();
  await waitForEnd(api, task.task_id);
  const carol = await member('carol');

  process.env.VIEWER_LIMIT_PER_TASK = '2';
  process.env.VIEWER_LIMIT_PER_USER = '3';
  try {
    // Per run: two may follow it; the third is told why and closed.
    const [a, b, c] = [await viewer(carol), await viewer(carol), await viewer(carol)];
    // Completed runs unsubscribe their viewers once `completed` is sent: keep a and b subscribed
    // to a run that is still waiting.
    const waiting = await workspaceRunning('echo waiting');
    await api.patch(`/workspaces/${waiting.name}`, { auto_apply: false });
    const pending = await waiting.start();
    await waitForStatus(api, pending.task_id, 'apply_pending');
    a.subscribe(pending.task_id);
    b.subscribe(pending.task_id);
    await a.waitFor((m) => m.type === 'connected', 'connected');
    await b.waitFor((m) => m.type === 'connected', 'connected');
    c.subscribe(pending.task_id);
    expect(await c.waitFor((m) => m.type === 'request_error', 'a refusal')).toMatchObject({ error: 'too_many_viewers', message: expect.stringContaining('VIEWER_LIMIT_PER_TASK') });
    expect(await c.closed).toEqual({ code: 1008, reason: 'too many viewers on this run' });

    // Per user: carol has a and b open; a third and a fourth connection make four > 3.
    const d = await viewer(carol);
    const e = await viewer(carol);
    e.subscribe(task.task_id);
    expect(await e.waitFor((m) => m.type === 'request_error', 'a refusal')).toMatchObject({ error: 'too_many_connections', message: expect.stringContaining('VIEWER_LIMIT_PER_USER') });
    expect(await e.closed).toEqual({ code: 1008, reason: 'too many live-log connections for this user' });
    // Once one closes, a new subscribe is accepted.
    await d.close();
    const f = await viewer(carol);
    f.subscribe(task.task_id);
    expect(await f.completed()).toMatchObject({ status: 'success' });
    await api.post(`/tasks/${pending.task_id}/discard`);
    expect(await a.completed()).toMatchObject({ status: 'discarded' });
  } finally {
    delete process.env.VIEWER_LIMIT_PER_TASK;
    delete process.env.VIEWER_LIMIT_PER_USER;
  }
});

test('a viewer of a queued run that is cancelled before it starts gets completed', async () => {
  const ws = await workspaceRunning('echo first');
  await api.patch(`/workspaces/${ws.name}`, { auto_apply: false });
  const first = await ws.start();
  await waitForStatus(api, first.task_id, 'apply_pending'); // holds the workspace lock
  const queued = await ws.start();
  expect((await api.get(`/tasks/${queued.task_id}`)).body.status).toBe('pending');
  const v = await viewer();
  v.subscribe(queued.task_id);
  await v.waitFor((m) => m.type === 'connected', 'connected');
  expect((await api.post(`/tasks/${queued.task_id}/cancel`)).status).toBe(200);
  expect(await v.completed()).toMatchObject({ status: 'cancelled', task_id: queued.task_id, last_line: 0 });
  await api.post(`/tasks/${first.task_id}/discard`);
  await waitForEnd(api, first.task_id);
});
