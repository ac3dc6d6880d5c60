/**
 * Evidence a team can trust (SPEC §7, seed 003): change tickets, the audit chain and artifacts.
 * - A workspace with `require_ticket_for_apply` applies only with a ticket (422 otherwise).
 * - Every successful change through the API, every run-task callback and every use of a
 *   run-task token appends exactly one audit event; reads and refused requests append none.
 * - An event edited directly in DynamoDB breaks the chain, and `verify` names it.
 * - Artifact downloads are re-hashed: a corrupted blob is refused, and a corrupted plan file is
 *   never applied.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashEvent, type AuditEvent } from '../../functions/core/audit.js';
import { routes } from '../../functions/handlers/http/api.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import {
  createWorkspace,
  startRunway,
  startTask,
  uniqueName,
  uploadConfig,
  waitForEnd,
  waitForStatus,
  type ApiClient,
  type TaskView,
  type TestRunway,
} from '../support/runway.js';

const MAIN_TF = 'resource "terraform_data" "x" {\n  input = "evidence"\n}\n\noutput "x" {\n  value = terraform_data.x.output\n}\n';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What each changing route records (SPEC §7); a new changing route must be added here. */
const AUDITED: Record<string, string> = {
  'POST /users': 'user.create',
  'POST /workspaces': 'workspace.create',
  'PATCH /workspaces/*': 'workspace.update',
  'DELETE /workspaces/*': 'workspace.delete',
  'POST /workspaces/*/configuration-versions': 'configuration_version.create',
  'PUT /workspaces/*/variables/*': 'variable.put',
  'DELETE /workspaces/*/variables/*': 'variable.delete',
  'POST /workspaces/*/tasks': 'task.create',
  'POST /tasks/*/confirm': 'task.confirm',
  'POST /tasks/*/discard': 'task.discard',
  'POST /tasks/*/cancel': 'task.cancel',
  'POST /run-tasks': 'run_task.create',
  'PUT /run-tasks/*': 'run_task.update',
  'DELETE /run-tasks/*': 'run_task.delete',
  'POST /run-tasks/*/verify': 'run_task.verify',
  'POST /workspaces/*/run-tasks': 'workspace_run_task.create',
  'PUT /workspaces/*/run-tasks/*': 'workspace_run_task.update',
  'DELETE /workspaces/*/run-tasks/*': 'workspace_run_task.delete',
  'PATCH /run-task-results/*/callback': 'run_task_result.callback',
};

const shape = (path: string) => path.replace(/^\/api\/v1/, '').split('?')[0].replace(/\{[^}]+\}/g, '*');
const changingRoutes = routes.filter((r) => r.method !== 'GET').map((r) => ({ key: `${r.method} ${shape(r.path)}`, re: new RegExp(`^${shape(r.path).replace(/\*/g, '[^/]+')}$`), method: r.method }));

/** The audit action a successful call through the API should have recorded, if any. */
function actionOf(method: string, path: string): string | null {
  const p = path.split('?')[0];
  const r = changingRoutes.find((c) => c.method === method && c.re.test(p));
  return r ? AUDITED[r.key] : null;
}

let rw: TestRunway;
let api: ApiClient;
let member: ApiClient;
let receiver: Receiver;
let db: DynamoDBDocumentClient;

const W = { ticket: uniqueName('ticket'), auto: uniqueName('auto-ticket'), corrupt: uniqueName('corrupt'), discard: uniqueName('discard') };
let ticketRun: number;
let corruptRun: number;
let discardRun: number;

const events = async (query = ''): Promise<AuditEvent[]> => {
  const res = await api.get(`/audit-events${query}`);
  expect(res.status).toBe(200);
  return res.body.audit_events;
};

beforeAll(async () => {
  rw = await startRunway();
  api = rw.api;
  db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: rw.app.dynamoEndpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
  // The receiver reads the plan with its token, reports progress, then passes.
  receiver = await startReceiver(null, () => ({ kind: 'pass', fetchPlan: true, sendRunning: true }));
  const user = await api.post('/users', { username: 'mia', role: 'member' });
  expect(user.status).toBe(201);
  member = rw.client(user.body.token);

  await createWorkspace(api, { name: W.ticket, require_ticket_for_apply: true });
  await createWorkspace(api, { name: W.auto, require_ticket_for_apply: true, auto_apply: true });
  await createWorkspace(api, { name: W.corrupt, require_ticket_for_apply: true });
  await createWorkspace(api, { name: W.discard });
  for (const ws of Object.values(W)) await uploadConfig(api, ws, { 'main.tf': MAIN_TF });
  const rt = await api.post('/run-tasks', { name: 'evidence-check', endpoint_url: receiver.url });
  expect(rt.status).toBe(201);
  expect((await api.post(`/workspaces/${W.ticket}/run-tasks`, { run_task_id: rt.body.run_task_id, stage: 'post_plan', enforcement_level: 'mandatory' })).status).toBe(201);

  [ticketRun, corruptRun, discardRun] = await Promise.all([
    startTask(api, W.ticket, 'plan_and_apply').then((t) => t.task_id),
    // The ticket comes with the run, so its confirmation needs none.
    startTask(api, W.corrupt, 'plan_and_apply', { ticket: 'https://tickets.example/CHG-77' }).then((t) => t.task_id),
    startTask(member, W.discard, 'plan_and_apply').then((t) => t.task_id),
  ]);
  const planned = await Promise.all([ticketRun, corruptRun, discardRun].map((id) => waitForStatus(api, id, ['apply_pending', 'success', 'failed', 'errored'], 90_000)));
  expect(planned.map((t) => t.status)).toEqual(['apply_pending', 'apply_pending', 'apply_pending']);
}, 180_000);

afterAll(async () => {
  await receiver?.close();
  db?.destroy();
  await rw?.stop();
});

describe('change tickets', () => {
  it('refuses to confirm without a ticket (422, for an admin too), then applies with one and shows it', async () => {
    const refused = await api.post(`/tasks/${ticketRun}/confirm`);
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error: 'unprocessable_entity', message: expect.stringContaining('ticket') });
    expect((await api.get(`/tasks/${ticketRun}`)).body.status).toBe('apply_pending');

    const confirmed = await api.post(`/tasks/${ticketRun}/confirm`, { ticket: 'CHG-1234' });
    expect(confirmed.status).toBe(200);
    const done = await waitForEnd(api, ticketRun, 90_000);
    expect(done).toMatchObject({ status: 'success', ticket: 'CHG-1234', confirmed_by: 'admin' });
    const listed = (await api.get(`/workspaces/${W.ticket}/tasks`)).body.tasks.find((t: { id: number }) => t.id === ticketRun);
    expect(listed.ticket).toBe('CHG-1234');
  });

  it('refuses an auto-applying run without a ticket at creation (422) and applies one that carries it', async () => {
    const refused = await api.post(`/workspaces/${W.auto}/tasks`, { task_type: 'plan_and_apply' });
    expect(refused.status).toBe(422);
    expect(refused.body.message).toContain('ticket');
    // A plan changes nothing: it needs no ticket.
    expect((await api.post(`/workspaces/${W.auto}/tasks`, { task_type: 'plan', description: 'just looking' })).status).toBe(201);
    const run = await startTask(api, W.auto, 'plan_and_apply', { ticket: 'CHG-9' });
    const done = await waitForEnd(api, run.task_id, 90_000);
    expect(done).toMatchObject({ status: 'success', ticket: 'CHG-9' });
    expect((await api.get(`/workspaces/${W.auto}/state`)).body.outputs.x.value).toBe('evidence');
  });

  it('refuses an empty or oversized ticket naming the field', async () => {
    for (const ticket of ['   ', 'x'.repeat(501), 42]) {
      const res = await api.post(`/workspaces/${W.auto}/tasks`, { task_type: 'plan_and_apply', ticket });
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'validation_error' });
      expect(res.body.message).toMatch(/^ticket/);
    }
  });
});

describe('artifacts', () => {
  it('serves each artifact with the sha256 it lists, and refuses one whose blob was corrupted', async () => {
    const listed = (await api.get(`/tasks/${ticketRun}/artifacts`)).body.artifacts as { artifact_id: string; kind: string; sha256: string; size_bytes: number }[];
    expect(listed.map((a) => a.kind).sort()).toEqual(['configuration', 'logs', 'plan_file', 'plan_json', 'state_after']);
    for (const a of listed) {
      const res = await api.get(`/artifacts/${a.artifact_id}/download`);
      expect({ kind: a.kind, status: res.status, sha256: sha256(res.raw), size: res.raw.length, header: res.headers.get('x-checksum-sha256') }).toEqual({
        kind: a.kind,
        status: 200,
        sha256: a.sha256,
        size: a.size_bytes,
        header: a.sha256,
      });
    }

    // Flip one byte of the stored logs, as bit rot or a tamperer would.
    const logs = listed.find((a) => a.kind === 'logs')!;
    const blob = join(rw.app.dataDir, 'blobs', (await rw.app.deps.store.getArtifact(logs.artifact_id))!.blob_key);
    const original = await readFile(blob);
    const corrupted = Buffer.from(original);
    corrupted[10] ^= 0x01;
    await writeFile(blob, corrupted);
    const refused = await api.get(`/artifacts/${logs.artifact_id}/download`);
    expect(refused.status).toBe(500);
    expect(refused.body).toEqual({ error: 'integrity_error', message: expect.stringContaining(logs.artifact_id) });
    expect(refused.raw.toString()).not.toContain(corrupted.subarray(0, 40).toString());
    // The others are still served.
    expect((await api.get(`/artifacts/${listed.find((a) => a.kind === 'plan_json')!.artifact_id}/download`)).status).toBe(200);

    // The plan JSON endpoints read through the same check.
    const planJson = listed.find((a) => a.kind === 'plan_json')!;
    const planBlob = join(rw.app.dataDir, 'blobs', (await rw.app.deps.store.getArtifact(planJson.artifact_id))!.blob_key);
    const plan = await readFile(planBlob);
    await writeFile(planBlob, Buffer.concat([plan, Buffer.from(' ')]));
    const planRes = await api.get(`/workspaces/${W.ticket}/tasks/${ticketRun}/plan-json`);
    expect(planRes.status).toBe(500);
    expect(planRes.body.error).toBe('integrity_error');

    await writeFile(blob, original);
    await writeFile(planBlob, plan);
    expect((await api.get(`/artifacts/${logs.artifact_id}/download`)).status).toBe(200);
  });

  it('never applies a plan file that was changed after the plan: the run errors and the state stays as it was', async () => {
    const a = await rw.app.deps.store.getArtifact(`art-${corruptRun}-plan-file`);
    expect(a).not.toBeNull();
    const blob = join(rw.app.dataDir, 'blobs', a!.blob_key);
    const planFile = await readFile(blob);
    planFile[planFile.length - 1] ^= 0xff;
    await writeFile(blob, planFile);

    // The run carries its ticket, so a bare confirm passes the ticket check.
    const confirmed = await api.post(`/tasks/${corruptRun}/confirm`);
    expect(confirmed.status).toBe(200);
    const done = await waitForEnd(api, corruptRun, 90_000);
    expect(done.status).toBe('errored');
    expect(done.error_message).toMatch(/SHA-256/);
    expect(done.stage_timings.applying).toBeUndefined();
    const state = await api.get(`/workspaces/${W.corrupt}/state`);
    expect(state.body.serial).toBeNull();
    const log = (await api.get(`/tasks/${corruptRun}/logs?type=apply&format=text`)).body as string;
    expect(log).toContain('SHA-256');
    expect(log).not.toMatch(/Apply complete/);
  });
});

describe('the audit chain', () => {
  let before: number;

  it('records every successful change with its actor, action and resource, and nothing for reads or refusals', async () => {
    before = (await events()).length;
    const mark = rw.responses.length;
    const ws = uniqueName('audited');

    // Refused and read-only requests first: none of them may leave an event.
    expect((await api.post('/workspaces', { name: 'bad name!' })).status).toBe(400);
    expect((await member.delete(`/workspaces/${W.discard}`)).status).toBe(403);
    expect((await api.get('/workspaces')).status).toBe(200);
    expect((await api.get(`/tasks/${ticketRun}/logs`)).status).toBe(200);

    // Then one successful call of every changing route not yet made in this file.
    expect((await api.post('/users', { username: 'auditor', role: 'member' })).status).toBe(201);
    expect((await member.post('/workspaces', { name: ws })).status).toBe(201);
    expect((await member.patch(`/workspaces/${ws}`, { description: 'audited' })).status).toBe(200);
    expect((await member.post(`/workspaces/${ws}/configuration-versions`, { files: { 'main.tf': MAIN_TF } })).status).toBe(201);
    expect((await member.put(`/workspaces/${ws}/variables/region`, { value: 'eu-west-1', category: 'env' })).status).toBe(200);
    expect((await member.delete(`/workspaces/${ws}/variables/region`)).status).toBe(204);
    const queued = await member.post(`/workspaces/${W.discard}/tasks`, { task_type: 'plan' });
    expect(queued.status).toBe(201);
    expect((await member.post(`/tasks/${queued.body.task_id}/cancel`)).status).toBe(200);
    expect((await member.post(`/tasks/${discardRun}/discard`)).status).toBe(200);
    const rt = await api.post('/run-tasks', { name: 'audited-rt', endpoint_url: receiver.url, hmac_key: 'k-audit-secret-1' });
    expect(rt.status).toBe(201);
    expect((await api.put(`/run-tasks/${rt.body.run_task_id}`, { description: 'changed' })).status).toBe(200);
    expect((await api.post(`/run-tasks/${rt.body.run_task_id}/verify`)).status).toBe(200);
    const att = await api.post(`/workspaces/${ws}/run-tasks`, { run_task_id: rt.body.run_task_id, stage: 'pre_plan', enforcement_level: 'advisory' });
    expect(att.status).toBe(201);
    expect((await api.put(`/workspaces/${ws}/run-tasks/${att.body.workspace_run_task_id}`, { enforcement_level: 'mandatory' })).status).toBe(200);
    expect((await api.delete(`/workspaces/${ws}/run-tasks/${att.body.workspace_run_task_id}`)).status).toBe(204);
    expect((await api.delete(`/run-tasks/${rt.body.run_task_id}`)).status).toBe(204);
    expect((await api.delete(`/workspaces/${ws}`)).status).toBe(204);

    // Every successful changing call of this whole file, and only those, is in the chain.
    const all = await events();
    const fromUsers = all.filter((e) => e.actor === 'admin' || e.actor === 'mia');
    const made = rw.responses
      .filter((r) => r.status < 400 && actionOf(r.method, r.path))
      .map((r) => ({ action: actionOf(r.method, r.path), resource: r.path.replace(/^\//, '').split('?')[0] }));
    // (the same multiset: calls made in parallel may have been answered in another order)
    const sorted = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
    expect(sorted(fromUsers.map((e) => ({ action: e.action, resource: e.resource })))).toEqual(sorted(made));
    // Only the calls of this test after `mark` are new.
    expect(all.length - before).toBe(rw.responses.slice(mark).filter((r) => r.status < 400 && actionOf(r.method, r.path)).length);

    // Who did it is the caller's username.
    const created = all.find((e) => e.action === 'workspace.create' && e.resource === 'workspaces')!;
    expect(all.filter((e) => e.action === 'workspace.create').map((e) => e.actor)).toContain('mia');
    expect(created.details).toMatchObject({ status: 201 });
    const discarded = all.find((e) => e.action === 'task.discard')!;
    expect(discarded).toMatchObject({ actor: 'mia', resource: `tasks/${discardRun}/discard`, details: { task_id: String(discardRun), status: 200 } });
  });

  it('covers every changing route of the API', () => {
    expect(changingRoutes.map((r) => r.key).sort()).toEqual(Object.keys(AUDITED).sort());
    const seen = new Set(rw.responses.filter((r) => r.status < 400).map((r) => actionOf(r.method, r.path)));
    seen.add('run_task_result.callback'); // made by the receiver, checked below
    expect(Object.values(AUDITED).filter((a) => !seen.has(a))).toEqual([]);
  });

  it('records each run-task callback and each use of a run-task token', async () => {
    const all = await events();
    const callbacks = all.filter((e) => e.action === 'run_task_result.callback');
    // running, then passed: both calls of the receiver, attributed to the run task
    expect(callbacks.map((e) => [e.actor, e.details.status, e.details.task_id])).toEqual([
      ['run-task:evidence-check', 'running', ticketRun],
      ['run-task:evidence-check', 'passed', ticketRun],
    ]);
    expect(callbacks[0].resource).toMatch(/^run-task-results\/rtr-/);
    const used = all.filter((e) => e.action === 'run_task.token_used');
    expect(used).toHaveLength(1);
    expect(used[0]).toMatchObject({ actor: 'run-task-token', resource: `tasks/${ticketRun}`, details: { path: expect.stringMatching(new RegExp(`/tasks/${ticketRun}/plan-json$`)) } });
    // Everything about the run is found by its resource.
    expect((await events(`?resource=tasks/${ticketRun}`)).map((e) => e.action)).toEqual(['run_task.token_used', 'task.confirm']);
  });

  it('filters by resource, actor and after', async () => {
    const all = await events();
    const byResource = await events(`?resource=tasks/${discardRun}`);
    expect(byResource.map((e) => e.action)).toEqual(['task.discard']);
    const byActor = await events('?actor=mia');
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((e) => e.actor === 'mia')).toBe(true);
    const after = await events(`?after=${all[all.length - 3].event_id}`);
    expect(after.map((e) => e.event_id)).toEqual(all.slice(-2).map((e) => e.event_id));
    const afterTime = await events(`?after=${encodeURIComponent(all[all.length - 3].at)}`);
    expect(afterTime.every((e) => e.at > all[all.length - 3].at)).toBe(true);
    // Admin only.
    expect((await member.get('/audit-events')).status).toBe(403);
  });

  it('verifies whole; an event edited directly in DynamoDB is named, and the chain is whole again once it is restored', async () => {
    const ok = await api.get('/audit-events/verify');
    const all = await events();
    expect(ok.body).toEqual({ ok: true, events: all.length, first_bad_event_id: null });

    // Hide who discarded the run: change one stored event's actor in place.
    const target = all.find((e) => e.action === 'task.discard')!;
    const key = { pk: 'AUDIT', sk: `EV#${String(target.seq).padStart(12, '0')}` };
    const stored = (await db.send(new GetCommand({ TableName: 'runway', Key: key }))).Item!;
    expect(stored.actor).toBe('mia');
    await db.send(new PutCommand({ TableName: 'runway', Item: { ...stored, actor: 'someone-else' } }));
    expect((await api.get('/audit-events/verify')).body).toEqual({ ok: false, events: target.seq, first_bad_event_id: target.event_id });

    // A tamperer who also recomputes the event's own hash breaks the link to the next event.
    const forged = { ...stored, actor: 'someone-else' } as unknown as AuditEvent;
    await db.send(new PutCommand({ TableName: 'runway', Item: { ...stored, actor: 'someone-else', hash: hashEvent(forged) } }));
    expect((await api.get('/audit-events/verify')).body).toMatchObject({ ok: false, first_bad_event_id: `ae-${target.seq + 1}` });

    await db.send(new PutCommand({ TableName: 'runway', Item: stored }));
    expect((await api.get('/audit-events/verify')).body).toMatchObject({ ok: true, first_bad_event_id: null });
  });
});
