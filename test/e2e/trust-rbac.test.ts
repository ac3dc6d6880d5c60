/**
 * "Who may do what" (SPEC §2), checked cell by cell: the table is read from the README's section,
 * and each row has a probe that makes the row's calls as each kind of caller and reports what happened in the table's own words — "yes", "no (403)",
 * "not listed". One test per row; a row of the table without a probe, or a route of the API that
 * no row names, fails too.
 *
 * Callers: the admin; a member of team "blue" (own: the blue and team-less workspaces; other: the
 * "red" workspace); a live run-task access token (of a run held at post_plan by two run tasks
 * that never answer); no token. Runs are tiny terraform_data configurations, planned in parallel
 * once in beforeAll; one-shot actions (confirm, discard) each get their own run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
  type ApiResponse,
  type TestRunway,
} from '../support/runway.js';
import { Viewer } from '../support/viewer.js';

// ---------- the table ----------

type Who = 'admin' | 'member' | 'other' | 'token' | 'none';
const COLUMNS: Record<Who, string> = {
  admin: 'admin',
  member: 'member (own team or team-less workspace)',
  other: "member (other team's workspace)",
  token: 'run-task access token',
  none: 'no token',
};
const WHO = Object.keys(COLUMNS) as Who[];
/** Negative cells first, so an action a caller may not take is tried before one that may succeeds. */
const ORDER: Who[] = ['none', 'token', 'other', 'member', 'admin'];

interface Row {
  action: string;
  endpoints: string;
  expected: Record<Who, string>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The README's "## Who may do what" table. */
function readTable(): { source: string; rows: Row[] } {
  for (const source of ['README.md'].filter((f) => existsSync(`${ROOT}${f}`))) {
    const text = readFileSync(`${ROOT}${source}`, 'utf8');
    const start = text.indexOf('## Who may do what');
    if (start < 0) continue;
    const section = text.slice(start).split(/\n## /)[0];
    const lines = section.split('\n').filter((l) => l.startsWith('|'));
    const cells = (l: string) => l.slice(1, -1).split(' | ').map((c) => c.trim());
    const header = cells(lines[0]);
    const col = (name: string) => {
      const i = header.indexOf(name);
      if (i < 0) throw new Error(`${source}: the table has no column "${name}" (it has ${header.join(', ')})`);
      return i;
    };
    const rows = lines.slice(2).map((l) => {
      const c = cells(l);
      const expected = Object.fromEntries(WHO.map((w) => [w, normalise(c[col(COLUMNS[w])])])) as Record<Who, string>;
      return { action: c[col('action')], endpoints: c[col('endpoints')], expected };
    });
    return { source, rows };
  }
  throw new Error('no "## Who may do what" section in README.md');
}

/** A cell in the words the probes report: "yes", "no (NNN)" or "not listed" (qualifiers dropped). */
function normalise(cell: string): string {
  if (/^yes\b/.test(cell)) return 'yes';
  const no = /^no \((\d{3})\)/.exec(cell);
  if (no) return `no (${no[1]})`;
  if (/^not listed\b/.test(cell)) return 'not listed';
  throw new Error(`a cell must start with "yes", "no (NNN)" or "not listed": ${cell}`);
}

const TABLE = readTable();

// ---------- what an answer says ----------

/** "yes" for a 2xx that passes `check`; "no (NNN)" for a JSON `{error, message}`; a description otherwise. */
function outcome(res: ApiResponse, label: string, check: (res: ApiResponse) => string | null = () => null): string {
  if (res.status >= 200 && res.status < 300) {
    const wrong = check(res);
    return wrong ? `${label}: ${res.status} but ${wrong}` : 'yes';
  }
  const isJsonError =
    (res.headers.get('content-type') ?? '').startsWith('application/json') && typeof res.body?.error === 'string' && typeof res.body?.message === 'string';
  return isJsonError ? `no (${res.status})` : `${label}: HTTP ${res.status} without a JSON {error, message}: ${String(res.raw).slice(0, 200)}`;
}

/** A row's several calls must agree; if they do not, every answer is shown. */
function agree(parts: [label: string, outcome: string][]): string {
  const distinct = new Set(parts.map(([, o]) => o));
  return distinct.size === 1 ? parts[0][1] : parts.map(([l, o]) => `${l} → ${o}`).join('; ');
}

// ---------- the instance and its fixtures ----------

let rw: TestRunway;
let admin: ApiClient;
let memberApi: ApiClient;
let memberToken: string;
let receiver: Receiver;

const MAIN_TF = 'resource "terraform_data" "x" {\n  input = "rbac"\n}\n\noutput "x" {\n  value = terraform_data.x.output\n}\n';

/** Workspaces: blue and guarded belong to the member's team, red to another, the rest to none. */
const W = {
  blue: uniqueName('blue'),
  blueConfirm: uniqueName('blue-confirm'),
  guarded: uniqueName('guarded'),
  open: uniqueName('open'),
  openDiscard: uniqueName('open-discard'),
  red: uniqueName('red'),
  held: uniqueName('held'),
};

/** Runs, by what they are for. */
const R = {
  /** blue, apply_pending: the member confirms it */
  memberConfirm: 0,
  /** blue (another workspace), apply_pending: the admin confirms it */
  adminConfirm: 0,
  /** guarded (apply_requires_admin), apply_pending: the member is refused, the admin confirms */
  guarded: 0,
  /** team-less, apply_pending: the member discards it */
  memberDiscard: 0,
  /** team-less, apply_pending: the admin discards it */
  adminDiscard: 0,
  /** red, apply_pending all along: what the member must not see */
  red: 0,
  /** team-less, held at post_plan by two run tasks that never answer: its tokens stay open */
  held: 0,
};

let redArtifact: string;
let blueArtifact: string;
let redCv: string;
let blueCv: string;
let heldCv: string;
/** the two open results of the held run: [result_id, access_token] */
let tokens: { resultId: string; token: string }[];
let rtA: string;

const as = (who: Who, token = tokens?.[0]?.token): ApiClient =>
  who === 'admin' ? admin : who === 'member' || who === 'other' ? memberApi : who === 'token' ? rw.client(token) : rw.client(null);

/** The blue workspace for the member, the red one for "other"; blue for the rest. */
const wsFor = (who: Who) => (who === 'other' ? W.red : W.blue);
/** A run the caller reads: red's for "other" and the admin (who sees every team), blue's otherwise. */
const runFor = (who: Who) => (who === 'other' || who === 'admin' ? R.red : R.memberConfirm);

beforeAll(async () => {
  rw = await startRunway();
  admin = rw.api;
  const user = await admin.post('/users', { username: 'mia', role: 'member', teams: ['blue'] });
  expect(user.status).toBe(201);
  memberToken = user.body.token;
  memberApi = rw.client(memberToken);

  receiver = await startReceiver(null, () => ({ kind: 'silent' }));
  const teams: Record<string, string | undefined> = { [W.blue]: 'blue', [W.blueConfirm]: 'blue', [W.guarded]: 'blue', [W.red]: 'red' };
  await Promise.all(
    Object.values(W).map(async (name) => {
      await createWorkspace(admin, { name, ...(teams[name] ? { team_id: teams[name] } : {}), ...(name === W.guarded ? { apply_requires_admin: true } : {}) });
      await uploadConfig(admin, name, { 'main.tf': MAIN_TF });
    }),
  );
  // Two run tasks that never answer hold the "held" run at post_plan with two open tokens.
  for (const name of ['rbac-a', 'rbac-b']) {
    const rt = await admin.post('/run-tasks', { name, endpoint_url: receiver.url });
    expect(rt.status).toBe(201);
    const at = await admin.post(`/workspaces/${W.held}/run-tasks`, { run_task_id: rt.body.run_task_id, stage: 'post_plan', enforcement_level: 'mandatory' });
    expect(at.status).toBe(201);
  }
  rtA = 'rt-rbac-a';

  const pa = (ws: string) => startTask(admin, ws, 'plan_and_apply').then((t) => t.task_id);
  [R.memberConfirm, R.adminConfirm, R.guarded, R.memberDiscard, R.adminDiscard, R.red, R.held] = await Promise.all([
    pa(W.blue),
    pa(W.blueConfirm),
    pa(W.guarded),
    pa(W.open),
    pa(W.openDiscard),
    pa(W.red),
    startTask(admin, W.held, 'plan').then((t) => t.task_id),
  ]);
  const planned = await Promise.all(
    [R.memberConfirm, R.adminConfirm, R.guarded, R.memberDiscard, R.adminDiscard, R.red].map((id) => waitForStatus(admin, id, ['apply_pending', 'success', 'failed', 'errored'], 90_000)),
  );
  for (const t of planned) expect({ task: t.task_id, status: t.status }).toEqual({ task: t.task_id, status: 'apply_pending' });
  await receiver.waitForRequests(2);
  tokens = receiver.requests.map((r) => ({ resultId: r.payload.task_result_id as string, token: r.payload.access_token as string }));

  const artifactOf = async (task: number) => (await admin.get(`/tasks/${task}/artifacts`)).body.artifacts[0].artifact_id as string;
  const cvOf = async (task: number) => (await admin.get(`/tasks/${task}`)).body.configuration_version_id as string;
  [redArtifact, blueArtifact, redCv, blueCv, heldCv] = await Promise.all([artifactOf(R.red), artifactOf(R.memberConfirm), cvOf(R.red), cvOf(R.memberConfirm), cvOf(R.held)]);
}, 180_000);

afterAll(async () => {
  try {
    expect(rw?.responses.filter((r) => r.status >= 500) ?? []).toEqual([]);
  } finally {
    await receiver?.close();
    await rw?.stop();
  }
});

// ---------- one probe per row: what happened, in the table's words ----------

type Probe = (who: Who) => Promise<string>;

/** Creates a workspace as the admin (team blue unless said otherwise) for a probe to act on. */
async function freshWorkspace(team: string | null = 'blue'): Promise<string> {
  return (await createWorkspace(admin, { name: uniqueName('probe'), ...(team ? { team_id: team } : {}) })).name;
}

/** A run waiting (pending) behind the held run, for a probe to act on. */
const pendingRun = async () => (await startTask(admin, W.held, 'plan')).task_id;

const names = (res: ApiResponse) => ((res.body?.workspaces ?? []) as { name: string }[]).map((w) => w.name);

const PROBES: Record<string, Probe> = {
  'Health and meta': async (who) => {
    const c = as(who);
    return agree([
      ['GET /health', outcome(await c.get('/health'), 'health', (r) => (r.body.status === 'ok' ? null : 'status is not ok'))],
      ['GET /meta', outcome(await c.get('/meta'), 'meta', (r) => (typeof r.body.websocket_url === 'string' ? null : 'no websocket_url'))],
    ]);
  },

  'Who am I': async (who) =>
    outcome(await as(who).get('/me'), 'GET /me', (r) => (r.body.username === (who === 'admin' ? 'admin' : 'mia') ? null : `it names ${r.body.username}`)),

  'Manage users': async (who) => {
    const c = as(who);
    return agree([
      ['POST /users', outcome(await c.post('/users', { username: uniqueName('u'), role: 'member' }), 'POST /users', (r) => (typeof r.body.token === 'string' ? null : 'no token'))],
      ['GET /users', outcome(await c.get('/users'), 'GET /users', (r) => (r.body.users.some((u: { username: string }) => u.username === 'mia') ? null : 'mia is missing'))],
    ]);
  },

  'List workspaces': async (who) => {
    const res = await as(who).get('/workspaces');
    if (who === 'other') {
      const o = outcome(res, 'GET /workspaces');
      return o === 'yes' ? (names(res).includes(W.red) ? 'listed' : 'not listed') : o;
    }
    const mine = [W.blue, W.guarded, W.open, W.held];
    return outcome(res, 'GET /workspaces', (r) => {
      const missing = [...mine, ...(who === 'admin' ? [W.red] : [])].filter((n) => !names(r).includes(n));
      if (missing.length) return `it lacks ${missing.join(', ')}`;
      if (who === 'member' && names(r).includes(W.red)) return `it shows the red workspace`;
      return null;
    });
  },

  'Create a workspace': async (who) => {
    const c = as(who);
    if (who === 'other') return outcome(await c.post('/workspaces', { name: uniqueName('c'), team_id: 'red' }), 'POST /workspaces');
    if (who === 'admin') return outcome(await c.post('/workspaces', { name: uniqueName('c'), team_id: 'red' }), 'POST /workspaces', (r) => (r.body.team_id === 'red' ? null : 'team_id not kept'));
    return agree([
      ['team-less', outcome(await c.post('/workspaces', { name: uniqueName('c') }), 'POST /workspaces')],
      ['team blue', outcome(await c.post('/workspaces', { name: uniqueName('c'), team_id: 'blue' }), 'POST /workspaces', (r) => (r.body.team_id === 'blue' ? null : 'team_id not kept'))],
    ]);
  },

  'Read a workspace': async (who) => outcome(await as(who).get(`/workspaces/${wsFor(who)}`), 'GET /workspaces/:ws', (r) => (r.body.name === wsFor(who) ? null : 'another workspace')),

  'Change a workspace': async (who) => {
    const c = as(who);
    const description = `changed by ${who}`;
    const changed = outcome(await c.patch(`/workspaces/${wsFor(who)}`, { description }), 'PATCH description', (r) => (r.body.description === description ? null : 'not changed'));
    if (who !== 'member' || changed !== 'yes') return changed;
    // A member moves a workspace only into a team of theirs.
    const toRed = await c.patch(`/workspaces/${wsFor(who)}`, { team_id: 'red' });
    return toRed.status === 403 ? 'yes' : `PATCH team_id to another team → ${toRed.status}`;
  },

  'Set `apply_requires_admin` or `require_ticket_for_apply`': async (who) => {
    const c = as(who);
    const ws = who === 'other' ? W.red : await freshWorkspace();
    const parts: [string, string][] = [];
    for (const guard of ['apply_requires_admin', 'require_ticket_for_apply']) {
      parts.push([guard, outcome(await c.patch(`/workspaces/${ws}`, { [guard]: true }), guard, (r) => (r.body[guard] === true ? null : 'not set'))]);
    }
    return agree(parts);
  },

  'Delete a workspace': async (who) => {
    const ws = who === 'other' ? W.red : await freshWorkspace();
    const res = await as(who).delete(`/workspaces/${ws}`);
    const o = outcome(res, 'DELETE /workspaces/:ws');
    if (o === 'yes' && (await admin.get(`/workspaces/${ws}`)).status !== 404) return 'answered 2xx but the workspace is still there';
    return o;
  },

  'Upload a configuration version': async (who) =>
    outcome(await as(who).post(`/workspaces/${wsFor(who)}/configuration-versions`, { files: { 'main.tf': MAIN_TF } }), 'POST configuration-versions', (r) =>
      /^cv-/.test(r.body.configuration_version_id) ? null : 'no configuration_version_id',
    ),

  Variables: async (who) => {
    const c = as(who);
    const ws = wsFor(who);
    const key = `v_${who}`;
    return agree([
      ['PUT', outcome(await c.put(`/workspaces/${ws}/variables/${key}`, { value: 'x', category: 'terraform' }), 'PUT variable')],
      ['GET', outcome(await c.get(`/workspaces/${ws}/variables`), 'GET variables', (r) => (r.body.variables.some((v: { key: string }) => v.key === key) ? null : `${key} is missing`))],
      ['DELETE', outcome(await c.delete(`/workspaces/${ws}/variables/${key}`), 'DELETE variable')],
    ]);
  },

  'Read the state': async (who) => outcome(await as(who).get(`/workspaces/${wsFor(who)}/state`), 'GET state', (r) => ('outputs' in r.body ? null : 'no outputs')),

  'Start a run': async (who) => {
    // In the held workspace (team-less): the run waits, pending, behind the held one.
    const ws = who === 'other' ? W.red : W.held;
    const res = await as(who).post(`/workspaces/${ws}/tasks`, { task_type: 'plan' });
    const o = outcome(res, 'POST tasks', (r) => (r.body.status === 'pending' ? null : `status ${r.body.status}`));
    if (res.status === 201) expect((await admin.post(`/tasks/${res.body.task_id}/cancel`)).status).toBe(200);
    return o;
  },

  'Read runs': async (who) => {
    const c = as(who);
    const [ws, id] = [who === 'admin' ? W.red : wsFor(who), runFor(who)];
    return agree([
      ['list', outcome(await c.get(`/workspaces/${ws}/tasks`), 'GET tasks', (r) => (r.body.tasks.some((t: { id: number }) => t.id === id) ? null : `run ${id} is missing`))],
      ['get in workspace', outcome(await c.get(`/workspaces/${ws}/tasks/${id}`), 'GET /workspaces/:ws/tasks/:id', (r) => (r.body.task_id === id ? null : 'another run'))],
      ['get', outcome(await c.get(`/tasks/${id}`), 'GET /tasks/:id', (r) => (r.body.task_id === id ? null : 'another run'))],
    ]);
  },

  'Read logs': async (who) => {
    const c = as(who);
    const id = runFor(who);
    return agree([
      ['logs', outcome(await c.get(`/tasks/${id}/logs?format=text`), 'GET logs', (r) => (String(r.body).includes('PLANNING BEGIN') ? null : 'no plan log'))],
      ['download', outcome(await c.get(`/tasks/${id}/logs/download`), 'GET logs/download', (r) => (r.raw.toString().includes('terraform_data.x') ? null : 'no plan log'))],
    ]);
  },

  Artifacts: async (who) => {
    const c = as(who);
    const id = runFor(who);
    const artifact = id === R.red ? redArtifact : blueArtifact;
    return agree([
      ['list', outcome(await c.get(`/tasks/${id}/artifacts`), 'GET artifacts', (r) => (r.body.artifacts.length > 0 ? null : 'none listed'))],
      ['download', outcome(await c.get(`/artifacts/${artifact}/download`), 'GET artifact download', (r) => (r.raw.length > 0 ? null : 'empty'))],
    ]);
  },

  'Plan JSON and resource changes': async (who) => {
    const c = as(who);
    const [ws, id] = who === 'token' ? [W.held, R.held] : [who === 'admin' ? W.red : wsFor(who), runFor(who)];
    const parts: [string, string][] = [
      ['plan-json', outcome(await c.get(`/workspaces/${ws}/tasks/${id}/plan-json`), 'plan-json', (r) => (Array.isArray(r.body.resource_changes) ? null : 'no resource_changes'))],
      ['resource-changes', outcome(await c.get(`/workspaces/${ws}/tasks/${id}/resource-changes`), 'resource-changes', (r) => (r.body.resource_changes?.length === 1 ? null : 'no change'))],
    ];
    // A token reads its own run only.
    if (who === 'token') parts.push(['another run', (await c.get(`/workspaces/${W.blue}/tasks/${R.memberConfirm}/plan-json`)).status === 401 ? 'yes' : 'another run was readable']);
    return agree(parts);
  },

  'Download a configuration version': async (who) => {
    const c = as(who);
    const cv = who === 'token' ? heldCv : who === 'other' || who === 'admin' ? redCv : blueCv;
    const res = await c.get(`/configuration-versions/${cv}/download`);
    const o = outcome(res, 'cv download', (r) => (r.raw[0] === 0x1f && r.raw[1] === 0x8b ? null : 'not a gzip'));
    if (who === 'token' && o === 'yes' && (await c.get(`/configuration-versions/${blueCv}/download`)).status !== 401) return "another run's configuration was readable";
    return o;
  },

  'Run-task results of a run': async (who) => {
    const c = as(who);
    const [ws, id] = who === 'token' ? [W.held, R.held] : [who === 'admin' ? W.red : wsFor(who), runFor(who)];
    return agree([
      ['in workspace', outcome(await c.get(`/workspaces/${ws}/tasks/${id}/run-task-results`), 'results', (r) => (r.body.task_id === id ? null : 'another run'))],
      ['by run', outcome(await c.get(`/tasks/${id}/run-task-results`), 'results', (r) => (r.body.task_id === id ? null : 'another run'))],
    ]);
  },

  'Confirm an apply': async (who) => {
    const id = who === 'other' ? R.red : who === 'admin' ? R.adminConfirm : R.memberConfirm;
    return outcome(await as(who).post(`/tasks/${id}/confirm`), 'confirm', (r) => (r.body.status === 'running' ? null : `status ${r.body.status}`));
  },

  'Confirm an apply where `apply_requires_admin` is set': async (who) => {
    const id = who === 'other' ? R.red : R.guarded;
    return outcome(await as(who).post(`/tasks/${id}/confirm`), 'confirm', (r) => (r.body.confirmed_by === 'admin' ? null : `confirmed_by ${r.body.confirmed_by}`));
  },

  'Discard a plan': async (who) => {
    const id = who === 'other' ? R.red : who === 'admin' ? R.adminDiscard : R.memberDiscard;
    return outcome(await as(who).post(`/tasks/${id}/discard`), 'discard', (r) => (r.body.status === 'discarded' ? null : `status ${r.body.status}`));
  },

  'Cancel a run': async (who) => {
    const id = who === 'other' ? R.red : await pendingRun();
    const res = await as(who).post(`/tasks/${id}/cancel`);
    if (res.status >= 400 && id !== R.red) await admin.post(`/tasks/${id}/cancel`);
    return outcome(res, 'cancel', (r) => (r.body.status === 'cancelled' ? null : `status ${r.body.status}`));
  },

  'Run-task definitions': async (who) => {
    const c = as(who);
    const name = uniqueName('def').replace(/-/g, '_');
    const created = await c.post('/run-tasks', { name, endpoint_url: receiver.url });
    // The rest act on a run task the admin made when the caller could not make one.
    const id = created.status === 201 ? created.body.run_task_id : rtA;
    return agree([
      ['POST', outcome(created, 'POST /run-tasks')],
      ['GET list', outcome(await c.get('/run-tasks'), 'GET /run-tasks')],
      ['GET', outcome(await c.get(`/run-tasks/${id}`), 'GET /run-tasks/:rt')],
      ['PUT', outcome(await c.put(`/run-tasks/${id}`, { description: 'changed' }), 'PUT /run-tasks/:rt')],
      ['verify', outcome(await c.post(`/run-tasks/${id}/verify`), 'verify', (r) => (r.body.ok === true ? null : `verify reports ${JSON.stringify(r.body)}`))],
      ['DELETE', outcome(await c.delete(`/run-tasks/${id}`), 'DELETE /run-tasks/:rt')],
    ]);
  },

  'Attach run tasks to a workspace': async (who) => {
    const c = as(who);
    const ws = who === 'other' ? W.red : who === 'admin' ? await freshWorkspace() : W.blue;
    const attached = await c.post(`/workspaces/${ws}/run-tasks`, { run_task_id: rtA, stage: 'pre_apply', enforcement_level: 'advisory' });
    // Update and detach act on the held workspace's attachment when the caller could not attach.
    const [target, wrt] =
      attached.status === 201
        ? [ws, attached.body.workspace_run_task_id as string]
        : [W.held, (await admin.get(`/workspaces/${W.held}/run-tasks`)).body.workspace_run_tasks[0].workspace_run_task_id as string];
    return agree([
      ['POST', outcome(attached, 'attach')],
      ['PUT', outcome(await c.put(`/workspaces/${target}/run-tasks/${wrt}`, { enabled: true }), 'update attachment')],
      ['DELETE', outcome(await c.delete(`/workspaces/${target}/run-tasks/${wrt}`), 'detach')],
    ]);
  },

  "List a workspace's run tasks": async (who) => {
    const ws = who === 'other' ? W.red : W.held;
    return outcome(await as(who).get(`/workspaces/${ws}/run-tasks`), 'GET run-tasks of a workspace', (r) => (r.body.workspace_run_tasks.length === 2 ? null : 'not the two attachments'));
  },

  'Report a run-task result': async (who) => {
    const [mine, foreign] = tokens;
    const running = { data: { type: 'task-results', attributes: { status: 'running', message: `progress seen by ${who}` } } };
    const res = await as(who, mine.token).patch(`/run-task-results/${mine.resultId}/callback`, running);
    const o = outcome(res, 'callback', (r) => (r.body.status === 'running' ? null : `status ${r.body.status}`));
    // Its own result only: the other result's callback refuses this token.
    if (who === 'token' && o === 'yes' && (await as(who, mine.token).patch(`/run-task-results/${foreign.resultId}/callback`, running)).status !== 401) {
      return "another result's callback took this token";
    }
    return o;
  },

  'Live-log stream statistics': async (who) => {
    const res = await as(who).get('/terraform/streams/stats');
    const ids = (r: ApiResponse) => ((r.body?.streams ?? []) as { task_id: number }[]).map((s) => s.task_id);
    if (who === 'other') {
      const o = outcome(res, 'stats');
      return o === 'yes' ? (ids(res).includes(R.red) ? 'listed' : 'not listed') : o;
    }
    return outcome(res, 'stats', (r) => {
      if (!ids(r).includes(R.held)) return 'the held run is missing';
      if (who === 'admin' && !ids(r).includes(R.red)) return 'the red run is missing';
      if (who === 'member' && ids(r).includes(R.red)) return 'it shows the red run';
      return null;
    });
  },

  'Follow live logs': async (who) => {
    const { websocket_url: url } = (await admin.get('/meta')).body;
    const token = who === 'admin' ? rw.adminToken : who === 'member' || who === 'other' ? memberToken : who === 'token' ? tokens[0].token : null;
    let viewer: Viewer;
    try {
      viewer = await Viewer.open(url, token);
    } catch (err) {
      return `no (${(err as { status?: number }).status ?? String(err)})`;
    }
    try {
      const id = runFor(who);
      viewer.subscribe(id);
      const first = await viewer.waitFor((m) => m.type === 'request_error' || (typeof m.line_num === 'number' && m.line_num >= 1), 'a line or an error', 30_000);
      if (first.type === 'request_error') return first.error === 'not_found' ? 'no (404)' : `refused: ${JSON.stringify(first)}`;
      return 'yes';
    } finally {
      await viewer.close();
    }
  },

  'System monitor and metrics': async (who) => {
    const c = as(who);
    return agree([
      ['GET /system', outcome(await c.get('/system'), 'system', (r) => (typeof r.body.queue?.depth === 'number' ? null : 'no queue depth'))],
      ['GET /system/metrics', outcome(await c.get('/system/metrics'), 'metrics')],
    ]);
  },

  'Audit events': async (who) => {
    const c = as(who);
    return agree([
      ['GET /audit-events', outcome(await c.get('/audit-events'), 'audit-events', (r) => (r.body.audit_events.length > 0 ? null : 'no events'))],
      ['GET /audit-events/verify', outcome(await c.get('/audit-events/verify'), 'verify', (r) => (r.body.ok === true ? null : `chain not ok: ${JSON.stringify(r.body)}`))],
    ]);
  },
};

// ---------- the tests ----------

describe(`the table in ${TABLE.source}`, () => {
  it('has a probe for every row and a row for every probe', () => {
    expect(TABLE.rows.map((r) => r.action).sort()).toEqual(Object.keys(PROBES).sort());
  });

  it('names every route of the API', () => {
    const shape = (p: string) => p.replace(/^\/api\/v1/, '').replace(/\{[^}]+\}|:[a-z_]+/g, '*');
    const named = new Set(TABLE.rows.flatMap((r) => [...r.endpoints.matchAll(/`(GET|POST|PUT|PATCH|DELETE) ([^`]+)`/g)].map((m) => `${m[1]} ${shape(m[2])}`)));
    const missing = routes.map((r) => `${r.method} ${shape(r.path)}`).filter((r) => !named.has(r));
    expect(missing).toEqual([]);
  });
});

describe('who may do what', () => {
  for (const row of TABLE.rows) {
    it(`${row.action}: ${WHO.map((w) => `${w} ${row.expected[w]}`).join(', ')}`, async () => {
      const probe = PROBES[row.action];
      expect(probe).toBeDefined();
      const seen = {} as Record<Who, string>;
      for (const who of ORDER) seen[who] = await probe(who);
      expect(seen).toEqual(row.expected);
    });
  }
});

describe('after the probes', () => {
  it('the confirmed runs applied, the discarded ones did not', async () => {
    const [memberConfirmed, adminConfirmed, guarded] = await Promise.all([R.memberConfirm, R.adminConfirm, R.guarded].map((id) => waitForEnd(admin, id, 90_000)));
    expect([memberConfirmed, adminConfirmed, guarded].map((t) => [t.status, (t as unknown as { confirmed_by: string }).confirmed_by])).toEqual([
      ['success', 'mia'],
      ['success', 'admin'],
      ['success', 'admin'],
    ]);
    for (const id of [R.memberDiscard, R.adminDiscard]) expect((await admin.get(`/tasks/${id}`)).body.status).toBe('discarded');
  });
});
