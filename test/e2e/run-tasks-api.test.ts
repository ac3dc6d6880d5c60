/**
 * Run-task definitions and workspace attachments over the real HTTP API (SPEC §5, seed 000 §3.1–3.2):
 * CRUD, pagination, key rotation, validation, the address policy, and who may do what.
 * No run happens here; the run scenarios are in run-tasks.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded, type Embedded } from '../../local/embedded.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { apiClient, createWorkspace, uniqueName, type ApiClient } from '../support/runway.js';

const KEY_1 = `first-key-${randomBytes(8).toString('hex')}`;
const KEY_2 = `second-key-${randomBytes(8).toString('hex')}`;
const fp = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 8);

let app: Embedded;
let dataDir: string;
let api: ApiClient;
let rcv: Receiver;
/** every answer's raw body, to check that no HMAC key ever comes back */
const answers: { method: string; path: string; status: number; raw: string }[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'runway-run-tasks-api-'));
  const adminToken = `rwadmin_test_${randomBytes(16).toString('hex')}`;
  // The documented defaults: timeout_seconds from 60; loopback allowed (embedded default), private ranges not.
  app = await startEmbedded({ dataDir, port: 0, adminToken, env: { ...process.env, RUN_TASK_MIN_TIMEOUT_SECONDS: '60', ALLOW_PRIVATE_RUN_TASKS: '' } });
  api = apiClient(app.url, adminToken, { onResponse: (method, path, res) => answers.push({ method, path, status: res.status, raw: res.raw.toString('utf8') }) });
  rcv = await startReceiver(KEY_1, () => ({ kind: 'pass' }));
});

afterAll(async () => {
  await rcv?.close();
  await app?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function create(body: Record<string, unknown>) {
  const res = await api.post('/run-tasks', { endpoint_url: rcv.url, ...body });
  if (res.status !== 201) throw new Error(`creating ${JSON.stringify(body)} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

describe('definitions', () => {
  it('creates a run task: id rt-<name>, defaults, hmac_key_set and its fingerprint, no traffic', async () => {
    const name = uniqueName('security-scan');
    const res = await api.post('/run-tasks', {
      name,
      description: 'Security scanning service',
      endpoint_url: rcv.url,
      hmac_key: KEY_1,
      organization_id: 'org-default',
      team_id: 'team-ops',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      run_task_id: `rt-${name}`,
      name,
      description: 'Security scanning service',
      endpoint_url: rcv.url,
      hmac_key_set: true,
      hmac_key_fingerprint: fp(KEY_1),
      enabled: true,
      timeout_seconds: 600,
      is_global: false,
      organization_id: 'org-default',
      team_id: 'team-ops',
    });
    expect(Number.isNaN(Date.parse(res.body.created_at))).toBe(false);
    expect(res.body).not.toHaveProperty('hmac_key');
    expect(res.body).not.toHaveProperty('hmac_key_encrypted');
    expect(rcv.requests).toHaveLength(0);
  });

  it('creates one without a key', async () => {
    const body = await create({ name: uniqueName('nokey') });
    expect(body).toMatchObject({ hmac_key_set: false, hmac_key_fingerprint: null });
  });

  it('refuses a second run task with the same name (409)', async () => {
    const name = uniqueName('twice');
    await create({ name });
    const res = await api.post('/run-tasks', { name, endpoint_url: rcv.url });
    expect(res.status).toBe(409);
  });

  it('gets one with its workspace_count; an unknown id is 404', async () => {
    const rt = await create({ name: uniqueName('get') });
    const res = await api.get(`/run-tasks/${rt.run_task_id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ run_task_id: rt.run_task_id, name: rt.name, workspace_count: 0, hmac_key_set: false });
    expect((await api.get('/run-tasks/rt-does-not-exist')).status).toBe(404);
  });

  it('lists page by page with the total and each run task’s workspace_count', async () => {
    const org = uniqueName('org');
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await create({ name: uniqueName(`page${i}`), organization_id: org }));
    const [ws1, ws2] = [await createWorkspace(api, { name: uniqueName('count-a') }), await createWorkspace(api, { name: uniqueName('count-b') })];
    for (const ws of [ws1, ws2]) expect((await api.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: made[0].run_task_id, stage: 'post_plan' })).status).toBe(201);
    // the same workspace at a second stage
    expect((await api.post(`/workspaces/${ws1.name}/run-tasks`, { run_task_id: made[1].run_task_id, stage: 'pre_plan' })).status).toBe(201);

    const seen: { run_task_id: string; workspace_count: number }[] = [];
    for (const page of [1, 2, 3]) {
      const res = await api.get(`/run-tasks?organization_id=${org}&page=${page}&page_size=2`);
      expect(res.status).toBe(200);
      expect(res.body.pagination).toEqual({ page, page_size: 2, total: 5 });
      expect(res.body.run_tasks).toHaveLength(page < 3 ? 2 : 1);
      seen.push(...res.body.run_tasks);
    }
    expect(seen.map((r) => r.run_task_id).sort()).toEqual(made.map((r) => r.run_task_id).sort());
    const count = Object.fromEntries(seen.map((r) => [r.run_task_id, r.workspace_count]));
    expect(count[made[0].run_task_id]).toBe(2);
    expect(count[made[1].run_task_id]).toBe(1);
    expect(count[made[2].run_task_id]).toBe(0);
    expect((await api.get(`/run-tasks?organization_id=${org}&page=4&page_size=2`)).body.run_tasks).toEqual([]);
    const defaults = await api.get('/run-tasks');
    expect(defaults.body.pagination).toMatchObject({ page: 1, page_size: 20 });
  });

  it.each([
    ['page=0', 'page'],
    ['page_size=0', 'page_size'],
    ['page_size=abc', 'page_size'],
  ])('answers 400 to ?%s naming the parameter', async (query, field) => {
    const res = await api.get(`/run-tasks?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.message).toContain(field);
  });

  it('updates fields and rotates the HMAC key: the fingerprint changes, the key never shows, no traffic', async () => {
    const rt = await create({ name: uniqueName('rotate'), hmac_key: KEY_1 });
    expect(rt.hmac_key_fingerprint).toBe(fp(KEY_1));
    const res = await api.put(`/run-tasks/${rt.run_task_id}`, { description: 'v2', hmac_key: KEY_2, timeout_seconds: 900 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ run_task_id: rt.run_task_id, description: 'v2', timeout_seconds: 900, hmac_key_set: true, hmac_key_fingerprint: fp(KEY_2), endpoint_url: rcv.url });
    expect(fp(KEY_2)).not.toBe(fp(KEY_1));
    // absent: the key stays; null: it is removed
    expect((await api.put(`/run-tasks/${rt.run_task_id}`, { enabled: false })).body).toMatchObject({ enabled: false, hmac_key_fingerprint: fp(KEY_2) });
    expect((await api.put(`/run-tasks/${rt.run_task_id}`, { hmac_key: null })).body).toMatchObject({ hmac_key_set: false, hmac_key_fingerprint: null });
    expect((await api.get(`/run-tasks/${rt.run_task_id}`)).body).toMatchObject({ description: 'v2', enabled: false, hmac_key_set: false });
    expect(rcv.requests).toHaveLength(0);
  });

  it('deletes: 409 while attached, unless ?force=true', async () => {
    const rt = await create({ name: uniqueName('delete') });
    const ws = await createWorkspace(api, { name: uniqueName('del-ws') });
    expect((await api.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: rt.run_task_id, stage: 'post_plan' })).status).toBe(201);
    const refused = await api.delete(`/run-tasks/${rt.run_task_id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/force=true/);
    expect((await api.get(`/run-tasks/${rt.run_task_id}`)).status).toBe(200);
    expect((await api.delete(`/run-tasks/${rt.run_task_id}?force=true`)).status).toBe(204);
    expect((await api.get(`/run-tasks/${rt.run_task_id}`)).status).toBe(404);
    // its attachments went with it
    expect((await api.get(`/workspaces/${ws.name}/run-tasks`)).body.workspace_run_tasks).toEqual([]);
    const unattached = await create({ name: uniqueName('delete-free') });
    expect((await api.delete(`/run-tasks/${unattached.run_task_id}`)).status).toBe(204);
  });
});

describe('validation', () => {
  it.each([
    ['a name outside ^[a-zA-Z0-9_-]+$', { name: 'bad name!' }, 'name'],
    ['a name with a slash', { name: 'a/b' }, 'name'],
    ['an ftp endpoint', { endpoint_url: 'ftp://scanner.example.com/x' }, 'endpoint_url'],
    ['an endpoint that is not a URL', { endpoint_url: 'scanner.example.com' }, 'endpoint_url'],
    ['timeout_seconds below 60', { timeout_seconds: 59 }, 'timeout_seconds'],
    ['timeout_seconds above 3600', { timeout_seconds: 3601 }, 'timeout_seconds'],
    ['a non-integer timeout', { timeout_seconds: 90.5 }, 'timeout_seconds'],
    ['an unknown stage', { is_global: true, global_stage: 'during_plan' }, 'global_stage'],
    ['is_global without global_stage', { is_global: true }, 'global_stage'],
    ['an unknown field', { hmac: 'x' }, 'hmac'],
  ])('answers 400 to %s, naming the field', async (_what, body, field) => {
    const res = await api.post('/run-tasks', { name: uniqueName('v'), endpoint_url: 'https://scanner.example.com/hook', ...body });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain(field);
  });

  it('accepts the bounds 60 and 3600', async () => {
    expect((await create({ name: uniqueName('t60'), timeout_seconds: 60 })).timeout_seconds).toBe(60);
    expect((await create({ name: uniqueName('t3600'), timeout_seconds: 3600 })).timeout_seconds).toBe(3600);
  });

  it.each(['http://169.254.169.254/latest/meta-data/', 'http://[fd00:ec2::254]/', 'http://169.254.170.2/v2/credentials', 'http://2852039166/'])(
    'refuses the metadata endpoint %s with 400 naming endpoint_url',
    async (url) => {
      const res = await api.post('/run-tasks', { name: uniqueName('meta'), endpoint_url: url });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/endpoint_url.*(metadata|link-local)/);
    },
  );

  it('refuses private addresses (ALLOW_PRIVATE_RUN_TASKS unset) and allows loopback in the embedded default', async () => {
    const priv = await api.post('/run-tasks', { name: uniqueName('priv'), endpoint_url: 'http://10.0.0.1:8080/hook' });
    expect(priv.status).toBe(400);
    expect(priv.body.message).toMatch(/endpoint_url.*private/);
    expect((await api.post('/run-tasks', { name: uniqueName('loop'), endpoint_url: 'http://127.0.0.1:9/hook' })).status).toBe(201);
  });

  it('refuses an update to a metadata endpoint or a bad timeout, and keeps the run task as it was', async () => {
    const rt = await create({ name: uniqueName('upd') });
    const meta = await api.put(`/run-tasks/${rt.run_task_id}`, { endpoint_url: 'http://169.254.169.254/' });
    expect(meta.status).toBe(400);
    expect(meta.body.message).toContain('endpoint_url');
    expect((await api.put(`/run-tasks/${rt.run_task_id}`, { timeout_seconds: 10 })).status).toBe(400);
    expect((await api.put(`/run-tasks/${rt.run_task_id}`, { name: 'no spaces allowed' })).status).toBe(400);
    expect((await api.get(`/run-tasks/${rt.run_task_id}`)).body).toMatchObject({ endpoint_url: rcv.url, timeout_seconds: 600, name: rt.name });
  });
});

describe('workspace attachments', () => {
  let ws: { workspace_id: string; name: string };
  let rt: { run_task_id: string; name: string; description: string };

  beforeAll(async () => {
    ws = await createWorkspace(api, { name: uniqueName('attach') });
    rt = await create({ name: uniqueName('attached'), description: 'scans things' });
  });

  it('attaches a run task at a stage and level, and lists it with its run task', async () => {
    const res = await api.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: rt.run_task_id, stage: 'post_plan', enforcement_level: 'mandatory' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ workspace_id: ws.workspace_id, run_task_id: rt.run_task_id, run_task_name: rt.name, stage: 'post_plan', enforcement_level: 'mandatory', enabled: true });
    expect(res.body.workspace_run_task_id).toMatch(/^wrt-/);
    const list = await api.get(`/workspaces/${ws.workspace_id}/run-tasks`);
    expect(list.status).toBe(200);
    expect(list.body.workspace_run_tasks).toEqual([
      expect.objectContaining({
        workspace_run_task_id: res.body.workspace_run_task_id,
        run_task: expect.objectContaining({ run_task_id: rt.run_task_id, name: rt.name, description: 'scans things' }),
        stage: 'post_plan',
        enforcement_level: 'mandatory',
        enabled: true,
      }),
    ]);
  });

  it('answers 409 to a duplicate (workspace, run task, stage); another stage is fine; advisory by default', async () => {
    const dup = await api.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: rt.run_task_id, stage: 'post_plan', enforcement_level: 'advisory' });
    expect(dup.status).toBe(409);
    const other = await api.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: rt.run_task_id, stage: 'pre_apply' });
    expect(other.status).toBe(201);
    expect(other.body.enforcement_level).toBe('advisory');
  });

  it('updates an attachment; moving it onto a stage it already has is 409', async () => {
    const list = (await api.get(`/workspaces/${ws.name}/run-tasks`)).body.workspace_run_tasks as { workspace_run_task_id: string; stage: string }[];
    const preApply = list.find((a) => a.stage === 'pre_apply')!;
    const res = await api.put(`/workspaces/${ws.name}/run-tasks/${preApply.workspace_run_task_id}`, { enforcement_level: 'mandatory', enabled: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ stage: 'pre_apply', enforcement_level: 'mandatory', enabled: false });
    expect((await api.put(`/workspaces/${ws.name}/run-tasks/${preApply.workspace_run_task_id}`, { stage: 'post_plan' })).status).toBe(409);
    expect((await api.put(`/workspaces/${ws.name}/run-tasks/wrt-unknown`, { enabled: true })).status).toBe(404);
  });

  it('detaches', async () => {
    const list = (await api.get(`/workspaces/${ws.name}/run-tasks`)).body.workspace_run_tasks as { workspace_run_task_id: string; stage: string }[];
    const preApply = list.find((a) => a.stage === 'pre_apply')!;
    expect((await api.delete(`/workspaces/${ws.name}/run-tasks/${preApply.workspace_run_task_id}`)).status).toBe(204);
    expect((await api.get(`/workspaces/${ws.name}/run-tasks`)).body.workspace_run_tasks.map((a: { stage: string }) => a.stage)).toEqual(['post_plan']);
  });

  it.each([
    ['an unknown stage', { stage: 'mid_plan' }, 400, 'stage'],
    ['an unknown enforcement level', { stage: 'post_plan', enforcement_level: 'strict' }, 400, 'enforcement_level'],
    ['a missing stage', {}, 400, 'stage'],
  ])('answers 400 to %s', async (_what, body, status, field) => {
    const res = await api.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: rt.run_task_id, ...body });
    expect(res.status).toBe(status);
    expect(res.body.message).toContain(field);
  });

  it('answers 404 to an unknown run task or workspace', async () => {
    expect((await api.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: 'rt-nope', stage: 'post_plan' })).status).toBe(404);
    expect((await api.post('/workspaces/ws-nope/run-tasks', { run_task_id: rt.run_task_id, stage: 'post_plan' })).status).toBe(404);
  });
});

describe('access', () => {
  let member: ApiClient;
  let rt: { run_task_id: string };

  beforeAll(async () => {
    const user = await api.post('/users', { username: uniqueName('member'), role: 'member' });
    expect(user.status).toBe(201);
    member = apiClient(app.url, user.body.token, { onResponse: (method, path, res) => answers.push({ method, path, status: res.status, raw: res.raw.toString('utf8') }) });
    rt = await create({ name: uniqueName('guarded'), hmac_key: KEY_1 });
  });

  it('gives a member 403 on /run-tasks', async () => {
    expect((await member.get('/run-tasks')).status).toBe(403);
    expect((await member.post('/run-tasks', { name: uniqueName('m'), endpoint_url: 'https://scanner.example.com/' })).status).toBe(403);
    expect((await member.get(`/run-tasks/${rt.run_task_id}`)).status).toBe(403);
    expect((await member.put(`/run-tasks/${rt.run_task_id}`, { enabled: false })).status).toBe(403);
    expect((await member.delete(`/run-tasks/${rt.run_task_id}?force=true`)).status).toBe(403);
    expect((await member.post(`/run-tasks/${rt.run_task_id}/verify`)).status).toBe(403);
    expect((await api.get(`/run-tasks/${rt.run_task_id}`)).body.enabled).toBe(true);
  });

  it('gives a member 403 when attaching a run task to a workspace', async () => {
    const ws = await createWorkspace(member, { name: uniqueName('member-ws') });
    expect((await member.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: rt.run_task_id, stage: 'post_plan' })).status).toBe(403);
  });

  it('answers 401 without a token, and to a run-task access token', async () => {
    expect((await api.get('/run-tasks', { token: null })).status).toBe(401);
    expect((await api.get('/run-tasks', { token: `rtt_${randomBytes(24).toString('hex')}` })).status).toBe(401);
  });

  it('never returned an HMAC key, nor a 5xx', () => {
    expect(answers.length).toBeGreaterThan(50);
    for (const a of answers) {
      expect(a.raw).not.toContain(KEY_1);
      expect(a.raw).not.toContain(KEY_2);
      expect(a.raw).not.toMatch(/"hmac_key"|hmac_key_encrypted/);
    }
    expect(answers.filter((a) => a.status >= 500)).toEqual([]);
  });
});
