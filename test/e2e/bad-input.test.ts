/**
 * Bad input end to end: every malformed or forbidden request gets a 4xx JSON `{error, message}`
 * naming what was wrong, and changes nothing (compared after each test against a snapshot of
 * what the API shows). No answer of this file is a 5xx.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import {
  createWorkspace,
  startRunway,
  startTask,
  uploadConfig,
  waitForEnd,
  type ApiClient,
  type ApiResponse,
  type TestRunway,
} from '../support/runway.js';

let rw: TestRunway;
let api: ApiClient;
let member: ApiClient;
let wsId: string;
/** a run of the fixture workspace that has ended */
let endedTask: number;
let baseline: string;

const WS = 'fixture';
const PLAN_ONLY = 'fixture-plan-only';
const EMPTY = 'fixture-empty';
const MAIN_TF = 'resource "terraform_data" "x" {\n  input = "x"\n}\n';

/** What a user can see of everything a bad request might have changed. */
async function snapshot(): Promise<string> {
  const strip = (body: any) => JSON.stringify(body);
  const parts = await Promise.all([
    api.get('/workspaces'),
    api.get('/users'),
    ...[WS, PLAN_ONLY, EMPTY].flatMap((ws) => [api.get(`/workspaces/${ws}/variables`), api.get(`/workspaces/${ws}/tasks`), api.get(`/workspaces/${ws}/state`)]),
    api.get(`/tasks/${endedTask}`),
  ]);
  const latestCv = await Promise.all(
    [WS, PLAN_ONLY, EMPTY].map(async (name) => {
      const ws = await rw.app.deps.store.getWorkspace(name);
      return (await rw.app.deps.store.latestConfigurationVersion(ws!.workspace_id))?.configuration_version_id ?? null;
    }),
  );
  return JSON.stringify([parts.map((p) => [p.status, strip(p.body)]), latestCv]);
}

/** A 4xx JSON `{error, message}`; `field` must be named in the message. */
function expectError(res: ApiResponse, status: number, field?: string | RegExp): void {
  const seen = { status: res.status, body: res.body };
  expect(seen).toMatchObject({ status, body: { error: expect.any(String), message: expect.any(String) } });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  if (field instanceof RegExp) expect(res.body.message).toMatch(field);
  else if (field) expect(res.body.message).toContain(field);
}

/** A .tar.gz built entry by entry, so paths and types are exactly what a hostile client sends. */
function tarGz(entries: { path: string; type?: 'File' | 'SymbolicLink' | 'Link' | 'Directory'; body?: string; linkpath?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const type = e.type ?? 'File';
    const header = new Header({ path: e.path, type, size: type === 'File' ? body.length : 0, mode: type === 'Directory' ? 0o755 : 0o644, mtime: new Date(0), linkpath: e.linkpath, uid: 0, gid: 0 });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (type === 'File' && body.length) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

const uploadArchive = (ws: string, archive: Buffer) =>
  api.post(`/workspaces/${ws}/configuration-versions`, archive, { headers: { 'content-type': 'application/gzip' } });

beforeAll(async () => {
  rw = await startRunway();
  api = rw.api;
  wsId = (await createWorkspace(api, { name: WS })).workspace_id;
  await createWorkspace(api, { name: PLAN_ONLY, execution_mode: 'plan_only' });
  await createWorkspace(api, { name: EMPTY });
  await uploadConfig(api, WS, { 'main.tf': MAIN_TF });
  await uploadConfig(api, PLAN_ONLY, { 'main.tf': MAIN_TF });
  const put = await api.put(`/workspaces/${WS}/variables/region`, { value: 'eu-west-1', category: 'terraform' });
  expect(put.status).toBe(200);
  const user = await api.post('/users', { username: 'member-1', role: 'member' });
  expect(user.status).toBe(201);
  member = rw.client(user.body.token);
  // one ended run, to act on in the wrong state
  const task = await startTask(api, WS, 'plan');
  endedTask = task.task_id;
  expect(await waitForEnd(api, endedTask, 60_000)).toMatchObject({ status: 'success' });
  baseline = await snapshot();
});

afterEach(async () => {
  expect(await snapshot()).toBe(baseline);
});

afterAll(async () => {
  try {
    const errors = rw?.responses.filter((r) => r.status >= 500) ?? [];
    expect(errors).toEqual([]);
  } finally {
    await rw?.stop();
  }
});

describe('authentication and roles', () => {
  it('answers 401 without a token, with an unknown one, or with another scheme', async () => {
    expectError(await api.get('/workspaces', { token: null }), 401);
    expectError(await api.get('/workspaces', { token: `rwadmin_${randomBytes(16).toString('hex')}` }), 401);
    expectError(await api.get('/workspaces', { token: null, headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } }), 401);
    expectError(await api.post('/workspaces', { name: 'sneaky' }, { token: null }), 401);
    expectError(await api.post(`/workspaces/${WS}/tasks`, { task_type: 'plan' }, { token: 'nope' }), 401);
    expectError(await api.post(`/tasks/${endedTask}/cancel`, undefined, { token: null }), 401);
    expectError(await api.get(`/tasks/${endedTask}/logs`, { token: null }), 401);
  });

  it('answers 403 to a member on admin-only endpoints', async () => {
    expect((await member.get('/me')).body).toMatchObject({ username: 'member-1', role: 'member' });
    expectError(await member.post('/users', { username: 'member-2', role: 'admin' }), 403, 'admin');
    expectError(await member.get('/users'), 403);
  });
});

describe('unknown things', () => {
  it('answers 404 for an unknown workspace, task, artifact or route', async () => {
    expectError(await api.get('/workspaces/no-such-ws'), 404, 'no-such-ws');
    expectError(await api.get('/workspaces/ws-00000000000000000000'), 404);
    expectError(await api.post('/workspaces/no-such-ws/tasks', { task_type: 'plan' }), 404, 'no-such-ws');
    expectError(await api.put('/workspaces/no-such-ws/variables/x', { value: '1', category: 'env' }), 404);
    expectError(await api.post('/workspaces/no-such-ws/configuration-versions', { files: { 'main.tf': MAIN_TF } }), 404);
    expectError(await api.get('/tasks/999999'), 404, '999999');
    expectError(await api.post('/tasks/999999/confirm'), 404);
    expectError(await api.get('/tasks/999999/logs'), 404);
    expectError(await api.get(`/workspaces/${EMPTY}/tasks/${endedTask}`), 404); // a run of another workspace
    expectError(await api.get('/artifacts/art-999999-logs/download'), 404, 'art-999999-logs');
    expectError(await api.delete(`/workspaces/${WS}/variables/nope`), 404, 'nope');
    expectError(await api.get('/no-such-route'), 404);
  });

  it('answers 404 for a configuration version of another workspace', async () => {
    const cv = (await rw.app.deps.store.latestConfigurationVersion(wsId))!.configuration_version_id;
    expectError(await api.post(`/workspaces/${PLAN_ONLY}/tasks`, { task_type: 'plan', configuration_version_id: cv }), 404, cv);
  });
});

describe('malformed requests', () => {
  it('answers 400 naming the field for invalid workspaces', async () => {
    expectError(await api.post('/workspaces', { name: 'has spaces' }), 400, 'name');
    expectError(await api.post('/workspaces', { name: '../etc' }), 400, 'name');
    expectError(await api.post('/workspaces', { name: 'x'.repeat(91) }), 400, 'name');
    expectError(await api.post('/workspaces', {}), 400, 'name');
    expectError(await api.post('/workspaces', { name: 'ok-name', colour: 'blue' }), 400, 'colour');
    expectError(await api.post('/workspaces', { name: 42 }), 400, 'name');
    expectError(await api.post('/workspaces', { name: 'ok-name', auto_apply: 'yes' }), 400, 'auto_apply');
    expectError(await api.post('/workspaces', { name: 'ok-name', execution_mode: 'apply_only' }), 400, 'execution_mode');
    expectError(await api.post('/workspaces', { name: 'ok-name', working_directory: '../up' }), 400, 'working_directory');
    expectError(await api.post('/workspaces', ['name']), 400);
    expectError(await api.patch(`/workspaces/${WS}`, { auto_apply: 1 }), 400, 'auto_apply');
    expectError(await api.patch(`/workspaces/${WS}`, { workspace_id: 'ws-other' }), 400, 'workspace_id');
  });

  it('answers 400 for bodies that are not JSON', async () => {
    expectError(await api.post('/workspaces', '{"name": "broken"'), 400, 'JSON');
    expectError(await api.post('/workspaces', ''), 400, 'body');
    expectError(await api.post(`/workspaces/${WS}/tasks`, 'task_type=plan'), 400, 'JSON');
    expectError(await api.put(`/workspaces/${WS}/variables/region`, 'null'), 400);
  });

  it('answers 400 naming the field for invalid variables and runs', async () => {
    expectError(await api.put(`/workspaces/${WS}/variables/region`, { value: 5, category: 'terraform' }), 400, 'value');
    expectError(await api.put(`/workspaces/${WS}/variables/region`, { value: 'x', category: 'secret' }), 400, 'category');
    expectError(await api.put(`/workspaces/${WS}/variables/region`, { value: 'x' }), 400, 'category');
    expectError(await api.put(`/workspaces/${WS}/variables/region`, { value: 'x', category: 'env', sensitive: 'true' }), 400, 'sensitive');
    expectError(await api.put(`/workspaces/${WS}/variables/1bad`, { value: 'x', category: 'env' }), 400, 'key');
    expectError(await api.post(`/workspaces/${WS}/tasks`, { task_type: 'destroy' }), 400, 'task_type');
    expectError(await api.post(`/workspaces/${WS}/tasks`, {}), 400, 'task_type');
    expectError(await api.post(`/workspaces/${WS}/tasks`, { task_type: 'plan', configuration_version_id: 'nope' }), 400, 'configuration_version_id');
    expectError(await api.post(`/workspaces/${WS}/tasks`, { task_type: 'plan', priority: 1 }), 400, 'priority');
    expectError(await api.post('/users', { username: 'x', role: 'root' }), 400, 'role');
  });

  it('answers 400 naming the parameter for invalid ids and queries', async () => {
    expectError(await api.get('/tasks/abc'), 400, 'task_id');
    expectError(await api.get('/tasks/0'), 400, 'task_id');
    expectError(await api.get(`/workspaces/${WS}/tasks?limit=0`), 400, 'limit');
    expectError(await api.get(`/workspaces/${WS}/tasks?limit=lots`), 400, 'limit');
    expectError(await api.get(`/workspaces/${WS}/tasks?offset=-1`), 400, 'offset');
    expectError(await api.get(`/workspaces/${WS}/tasks?status=done`), 400, 'status');
    expectError(await api.get(`/workspaces/${WS}/tasks?task_type=destroy`), 400, 'task_type');
    expectError(await api.get(`/tasks/${endedTask}/logs?type=init`), 400, 'type');
    expectError(await api.get(`/tasks/${endedTask}/logs?format=xml`), 400, 'format');
    expectError(await api.get(`/tasks/${endedTask}/logs/download?type=init`), 400, 'type');
    expectError(await api.post(`/tasks/${endedTask}/cancel?force=maybe`), 400, 'force');
  });

  it('answers 400 for configuration uploads of the wrong shape', async () => {
    expectError(await api.post(`/workspaces/${WS}/configuration-versions`, { files: {} }), 400, 'files');
    expectError(await api.post(`/workspaces/${WS}/configuration-versions`, { files: { 'main.tf': 1 } }), 400, 'files');
    expectError(await api.post(`/workspaces/${WS}/configuration-versions`, { files: { '../main.tf': MAIN_TF } }), 400, '../main.tf');
    expectError(await api.post(`/workspaces/${WS}/configuration-versions`, { files: { '/etc/main.tf': MAIN_TF } }), 400, '/etc/main.tf');
    expectError(await api.post(`/workspaces/${WS}/configuration-versions`, Buffer.from('main.tf'), { headers: { 'content-type': 'text/plain' } }), 400, 'content-type');
    expectError(await uploadArchive(WS, Buffer.from('this is not gzip')), 400, 'archive');
    expectError(await uploadArchive(WS, Buffer.alloc(0)), 400);
  });
});

describe('hostile archives', () => {
  it('accepts a well-formed archive built the same way (the builder is sound)', async () => {
    const ok = await uploadArchive(EMPTY, tarGz([{ path: 'main.tf', body: MAIN_TF }, { path: 'mod/', type: 'Directory' }, { path: 'mod/x.tf', body: '' }]));
    expect(ok.status).toBe(201);
    expect(ok.body.configuration_version_id).toMatch(/^cv-/);
    // this one test changes something: put the baseline back in step
    baseline = await snapshot();
  });

  it('refuses a path that escapes the root', async () => {
    expectError(await uploadArchive(WS, tarGz([{ path: 'main.tf', body: MAIN_TF }, { path: '../x.tf', body: MAIN_TF }])), 400, '../x.tf');
    expectError(await uploadArchive(WS, tarGz([{ path: 'mod/../../x.tf', body: MAIN_TF }])), 400, 'mod/../../x.tf');
  });

  it('refuses an absolute path', async () => {
    expectError(await uploadArchive(WS, tarGz([{ path: '/tmp/x.tf', body: MAIN_TF }])), 400, '/tmp/x.tf');
  });

  it('refuses links', async () => {
    expectError(await uploadArchive(WS, tarGz([{ path: 'main.tf', body: MAIN_TF }, { path: 'passwd.tf', type: 'SymbolicLink', linkpath: '/etc/passwd' }])), 400, 'passwd.tf');
    expectError(await uploadArchive(WS, tarGz([{ path: 'main.tf', body: MAIN_TF }, { path: 'copy.tf', type: 'Link', linkpath: 'main.tf' }])), 400, 'copy.tf');
  });

  it('refuses an upload over 10 MiB with 413', async () => {
    const big = randomBytes(10 * 1024 * 1024 + 1);
    expectError(await uploadArchive(WS, big), 413);
    const json = await api.post(`/workspaces/${WS}/configuration-versions`, { files: { 'main.tf': MAIN_TF, 'big.tf': `# ${'x'.repeat(11 * 1024 * 1024)}` } });
    expectError(json, 413);
  });
});

describe('conflicts and impossible requests', () => {
  it('answers 409 for a duplicate workspace name', async () => {
    expectError(await api.post('/workspaces', { name: WS }), 409, WS);
    expectError(await api.patch(`/workspaces/${EMPTY}`, { name: WS }), 409, WS);
  });

  it('answers 409 to confirm, discard or cancel a run that is not in the right state', async () => {
    expectError(await api.post(`/tasks/${endedTask}/confirm`), 409, 'apply_pending');
    expectError(await api.post(`/tasks/${endedTask}/discard`), 409, 'apply_pending');
    expectError(await api.post(`/tasks/${endedTask}/cancel`), 409, 'success');
  });

  it('answers 422 to plan_and_apply in a plan_only workspace', async () => {
    expectError(await api.post(`/workspaces/${PLAN_ONLY}/tasks`, { task_type: 'plan_and_apply' }), 422, 'task_type');
  });

  it('answers 422 to a run in a workspace without a configuration version', async () => {
    const fresh = await api.post('/workspaces', { name: 'no-config-yet' });
    expect(fresh.status).toBe(201);
    try {
      expectError(await api.post('/workspaces/no-config-yet/tasks', { task_type: 'plan' }), 422, 'configuration_version_id');
      expect((await api.get('/workspaces/no-config-yet/tasks')).body.total).toBe(0);
    } finally {
      expect((await api.delete('/workspaces/no-config-yet')).status).toBe(204);
    }
  });

});
