/**
 * Fuzzing every route of the API (functions/handlers/http/api.ts) with malformed requests,
 * generated deterministically from a seeded PRNG: bad JSON, wrong types, unknown fields, huge
 * strings and bodies, bad and hostile ids (path traversal, bad percent-encoding), bad query
 * parameters, wrong content types and methods, missing, invalid and foreign tokens.
 * Every answer must be a 4xx with a JSON `{error, message}`; none a 5xx. Afterwards the stored data
 * is exactly as before: every DynamoDB item, every blob, and what the API lists.
 *
 * Each case changes one thing of a request that would otherwise be valid, and never sends a valid
 * destructive request: a case that succeeded would show as a failure and as changed data.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { routes } from '../../functions/handlers/http/api.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { createWorkspace, startRunway, startTask, uploadConfig, waitForEnd, waitUntil, type ApiClient, type TestRunway } from '../support/runway.js';

const SEED = 20251125;
const CASES = 320;

/** mulberry32: a small, well-mixed 32-bit PRNG; the same seed gives the same requests. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
    word: (n = 8) => Array.from({ length: n }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(next() * 36)]).join(''),
  };
}

// ---------- the routes, described enough to break them one thing at a time ----------

type Kind = { t: 'str'; max: number } | { t: 'strOrNull'; max: number } | { t: 'bool' } | { t: 'enum' } | { t: 'enumOrNull' } | { t: 'int' } | { t: 'strArray' } | { t: 'files' };

interface Template {
  method: string;
  /** the path as in api.ts */
  route: string;
  /** a valid body, never sent as is */
  body?: Record<string, unknown>;
  fields?: Record<string, Kind>;
  /** query parameters the route reads, with values it must refuse */
  query?: Record<string, string[]>;
  admin?: boolean;
  public?: boolean;
  /** also takes run-task access tokens */
  runTaskToken?: boolean;
}

const str = (max: number): Kind => ({ t: 'str', max });
const WS_FIELDS: Record<string, Kind> = {
  name: str(90),
  description: str(2000),
  terraform_version: str(20),
  execution_mode: { t: 'enum' },
  auto_apply: { t: 'bool' },
  working_directory: str(500),
  apply_requires_admin: { t: 'bool' },
  team_id: { t: 'strOrNull', max: 64 },
  require_ticket_for_apply: { t: 'bool' },
};
const WS_BODY = { name: 'fz-new', description: 'd', terraform_version: '1.11', execution_mode: 'plan_only', auto_apply: false, working_directory: 'sub', apply_requires_admin: false, team_id: 't1', require_ticket_for_apply: false };
const RT_FIELDS: Record<string, Kind> = {
  name: str(100),
  description: str(2000),
  endpoint_url: str(500),
  hmac_key: { t: 'strOrNull', max: 1024 },
  enabled: { t: 'bool' },
  timeout_seconds: { t: 'int' },
  is_global: { t: 'bool' },
  global_stage: { t: 'enumOrNull' },
  global_enforcement_level: { t: 'enumOrNull' },
};
const RT_BODY = { name: 'fz_rt_new', description: 'd', endpoint_url: 'http://127.0.0.1:1/hook', hmac_key: 'k', enabled: true, timeout_seconds: 600, is_global: false, global_stage: null, global_enforcement_level: null };
const LIMIT = ['0', '-1', 'abc', '101', '1e2', '1.5', '9'.repeat(20), ' 5'];

const V1 = '/api/v1';
const WS = `${V1}/workspaces/{workspace_id}`;
const TASK = `${V1}/tasks/{task_id}`;
const TEMPLATES: Template[] = [
  { method: 'GET', route: `${V1}/health`, public: true },
  { method: 'GET', route: `${V1}/meta`, public: true },
  { method: 'GET', route: `${V1}/terraform/streams/stats` },
  { method: 'GET', route: `${V1}/me` },
  { method: 'POST', route: `${V1}/users`, admin: true, body: { username: 'fz_user', role: 'member', teams: ['t1'] }, fields: { username: str(64), role: { t: 'enum' }, teams: { t: 'strArray' } } },
  { method: 'GET', route: `${V1}/users`, admin: true },
  { method: 'POST', route: `${V1}/workspaces`, body: WS_BODY, fields: WS_FIELDS },
  { method: 'GET', route: `${V1}/workspaces` },
  { method: 'GET', route: WS },
  { method: 'PATCH', route: WS, body: { ...WS_BODY, name: 'fz-renamed' }, fields: WS_FIELDS },
  { method: 'DELETE', route: WS, admin: true },
  { method: 'POST', route: `${WS}/configuration-versions`, body: { files: { 'main.tf': 'resource "terraform_data" "y" {}\n' } }, fields: { files: { t: 'files' } } },
  { method: 'GET', route: `${WS}/variables` },
  { method: 'PUT', route: `${WS}/variables/{key}`, body: { value: 'v', category: 'env', sensitive: false, hcl: false, description: 'd' }, fields: { value: str(256 * 1024), category: { t: 'enum' }, sensitive: { t: 'bool' }, hcl: { t: 'bool' }, description: str(1000) } },
  { method: 'DELETE', route: `${WS}/variables/{key}` },
  { method: 'GET', route: `${WS}/state` },
  { method: 'POST', route: `${WS}/tasks`, body: { task_type: 'plan', ticket: 'CHG-1', description: 'd', configuration_version_id: '{configuration_version_id}' }, fields: { task_type: { t: 'enum' }, ticket: str(500), description: str(2000), configuration_version_id: str(100) } },
  { method: 'GET', route: `${WS}/tasks`, query: { status: ['bogus', 'RUNNING', 'running,failed'], task_type: ['apply', 'PLAN'], limit: LIMIT, offset: ['-1', 'x', '1.5', '1000001'] } },
  { method: 'GET', route: `${WS}/tasks/{task_id}` },
  { method: 'GET', route: `${WS}/tasks/{task_id}/plan-json`, runTaskToken: true },
  { method: 'GET', route: `${WS}/tasks/{task_id}/resource-changes`, runTaskToken: true },
  { method: 'GET', route: TASK },
  { method: 'POST', route: `${TASK}/confirm`, body: { ticket: 'CHG-2', comment: 'c' }, fields: { ticket: str(500), comment: str(2000) } },
  { method: 'POST', route: `${TASK}/discard` },
  { method: 'POST', route: `${TASK}/cancel`, query: { force: ['yes', 'TRUE', '1', 'null'] } },
  { method: 'GET', route: `${TASK}/logs`, query: { type: ['xml', 'PLAN', 'plan,apply'], format: ['yaml', 'JSON', 'html'] } },
  { method: 'GET', route: `${TASK}/logs/download`, query: { type: ['both', '', 'apply;'].filter(Boolean) } },
  { method: 'GET', route: `${TASK}/artifacts` },
  { method: 'GET', route: `${V1}/artifacts/{artifact_id}/download` },
  { method: 'POST', route: `${V1}/run-tasks`, admin: true, body: RT_BODY, fields: RT_FIELDS },
  { method: 'GET', route: `${V1}/run-tasks`, admin: true, query: { page: ['0', '-3', 'x', '100001'], page_size: ['0', '101', 'many'] } },
  { method: 'GET', route: `${V1}/run-tasks/{run_task_id}`, admin: true },
  { method: 'PUT', route: `${V1}/run-tasks/{run_task_id}`, admin: true, body: { ...RT_BODY, name: 'fz_rt_renamed' }, fields: RT_FIELDS },
  { method: 'DELETE', route: `${V1}/run-tasks/{run_task_id}`, admin: true, query: { force: ['yes', 'TRUE', '1'] } },
  { method: 'POST', route: `${V1}/run-tasks/{run_task_id}/verify`, admin: true },
  { method: 'POST', route: `${WS}/run-tasks`, admin: true, body: { run_task_id: '{run_task_id}', stage: 'post_apply', enforcement_level: 'advisory', enabled: true }, fields: { run_task_id: str(120), stage: { t: 'enum' }, enforcement_level: { t: 'enum' }, enabled: { t: 'bool' } } },
  { method: 'GET', route: `${WS}/run-tasks` },
  { method: 'PUT', route: `${WS}/run-tasks/{workspace_run_task_id}`, admin: true, body: { stage: 'pre_apply', enforcement_level: 'mandatory', enabled: false }, fields: { stage: { t: 'enum' }, enforcement_level: { t: 'enum' }, enabled: { t: 'bool' } } },
  { method: 'DELETE', route: `${WS}/run-tasks/{workspace_run_task_id}`, admin: true },
  { method: 'GET', route: `${WS}/tasks/{task_id}/run-task-results` },
  { method: 'GET', route: `${TASK}/run-task-results` },
  { method: 'PATCH', route: `${V1}/run-task-results/{result_id}/callback`, public: true, body: { data: { type: 'task-results', attributes: { status: 'passed', message: 'm' } } } },
  { method: 'GET', route: `${V1}/configuration-versions/{configuration_version_id}/download`, runTaskToken: true },
  { method: 'GET', route: `${V1}/system/metrics`, admin: true },
  { method: 'GET', route: `${V1}/system`, admin: true },
  { method: 'GET', route: `${V1}/audit-events`, admin: true, query: { limit: ['0', '10001', 'x', '-5'] } },
  { method: 'GET', route: `${V1}/audit-events/verify`, admin: true },
];

// ---------- cases ----------

interface Case {
  label: string;
  /** the route it aims at ("METHOD /api/v1/…" as in api.ts), or null for unknown routes */
  route: string | null;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** Valid values of the fixture, filled in beforeAll. */
const FIX: Record<string, string> = {};
let adminToken = '';
let memberToken = '';

/** Ids a route must refuse: unknown, hostile, malformed, too long. */
const BAD_IDS = [
  'nope-{w}',
  '..%2F..%2Fsecret.key',
  '%2e%2e%2f%2e%2e%2fadmin-token',
  '..%5C..%5Cwindows',
  'x'.repeat(2000),
  '%00',
  '%E0%A4%A',
  '%',
  '%F0%9F%92%A9-{w}',
  "'%3B%20DROP%20TABLE%20runway--",
  '%20',
  '-1',
  '0',
  '1e5',
  '1.5',
  '9'.repeat(13),
  '%7B%7D',
  'ws-{w}',
  'rt-{w}',
];
const TASK_IDS = ['-1', '0', '1e5', '1.5', '9'.repeat(13), 'abc', '%20', '0x10', '999999', '%E0%A4%A'];
const KEYS = ['1abc', 'a-b', 'x'.repeat(129), '..%2F..%2Fetc', '%20', 'a%00b', '%E0%A4%A'];
const BAD_TOKENS = ['Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', 'Bearer {w} extra', `Bearer rwadmin_{w}`, 'Token {w}', 'Bearer ' + 'z'.repeat(8000), 'bearer\t{w}'];
const BAD_JSON = ['{', '{"a": ', '[]', 'null', '"text"', '42', 'true', '{}}', '\uFEFF{"x"', '{"a":1,}', "{'a': 1}", '['.repeat(50_000) + ']'.repeat(50_000), 'NaN', '{"a": undefined}'];

function wrongValues(kind: Kind, r: ReturnType<typeof prng>): unknown[] {
  switch (kind.t) {
    case 'str':
      return [123, true, [], {}, null, 'x'.repeat(kind.max + 1 + r.int(1000)), ['a']];
    case 'strOrNull':
      return [123, false, [], { a: 1 }, 'x'.repeat(kind.max + 1 + r.int(1000))];
    case 'bool':
      return ['true', 1, 0, null, [], 'yes'];
    case 'enum':
      return ['bogus', 7, null, '', 'PLAN', ['plan']];
    case 'enumOrNull':
      return ['bogus', 7, '', 'PLAN', ['plan'], false];
    case 'int':
      return ['600', 1.5, -1, null, true, 59, 3601, 1e308];
    case 'strArray':
      return ['t1', [1], [null], [{}], Array.from({ length: 51 }, (_, i) => `t${i}`), ['bad team!']];
    case 'files':
      return [{}, [], 'main.tf', { '../evil.tf': 'x' }, { '/abs.tf': 'x' }, { 'a/../../b.tf': 'x' }, { 'main.tf': 42 }, { '': 'x' }];
  }
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z_]+)\}/g, (_, k) => values[k] ?? FIX[k]);
}

function generate(): Case[] {
  const r = prng(SEED);
  const w = () => r.word(6);
  const sub = (s: string) => s.replace(/\{w\}/g, w());
  const auth = (token: string | null): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
  const jsonHeaders = (token: string | null) => ({ ...auth(token), 'content-type': 'application/json' });
  const bodyOf = (t: Template) => JSON.parse(fill(JSON.stringify(t.body), {}));
  const key = (t: Template) => `${t.method} ${t.route}`;

  type Gen = (t: Template) => Case | null;
  const mk = (t: Template, label: string, c: Partial<Case> & { path: string }): Case => ({ label: `${key(t)} [${label}]`, route: key(t), method: t.method, headers: {}, ...c });
  const validPath = (t: Template) => fill(t.route, {});

  const generators: Record<string, Gen> = {
    'no token': (t) => (t.public && !t.route.endsWith('/callback') ? null : mk(t, 'no token', { path: validPath(t), headers: t.body ? { 'content-type': 'application/json' } : {}, body: t.body ? Buffer.from(JSON.stringify(bodyOf(t))) : undefined })),
    'invalid token': (t) => {
      if (t.public && !t.route.endsWith('/callback')) return null;
      const authorization = sub(r.pick(BAD_TOKENS));
      return mk(t, `invalid token ${authorization.slice(0, 24)}`, { path: validPath(t), headers: { authorization, ...(t.body ? { 'content-type': 'application/json' } : {}) }, body: t.body ? Buffer.from(JSON.stringify(bodyOf(t))) : undefined });
    },
    'foreign run-task token': (t) =>
      t.public && !t.route.endsWith('/callback') ? null : mk(t, 'unknown rtt_ token', { path: validPath(t), headers: { authorization: `Bearer rtt_${r.word(32)}`, ...(t.body ? { 'content-type': 'application/json' } : {}) }, body: t.body ? Buffer.from(JSON.stringify(bodyOf(t))) : undefined }),
    'member on an admin route': (t) => (t.admin ? mk(t, 'member token', { path: validPath(t), headers: t.body ? jsonHeaders(memberToken) : auth(memberToken), body: t.body ? Buffer.from(JSON.stringify(bodyOf(t))) : undefined }) : null),
    'bad id': (t) => {
      const params = [...t.route.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]);
      if (!params.length) return null;
      const p = r.pick(params);
      const value = sub(p === 'task_id' ? r.pick(TASK_IDS) : p === 'key' ? r.pick(KEYS) : r.pick(BAD_IDS));
      const token = t.public ? null : adminToken;
      return mk(t, `bad ${p} ${value.slice(0, 30)}`, { path: fill(t.route, { [p]: value }), headers: t.body ? jsonHeaders(token) : auth(token), body: t.body ? Buffer.from(JSON.stringify(bodyOf(t))) : undefined });
    },
    'bad JSON': (t) => {
      if (!t.body) return null;
      const text = r.pick(BAD_JSON);
      return mk(t, `bad JSON ${JSON.stringify(text.slice(0, 16))}`, { path: validPath(t), headers: jsonHeaders(t.public ? null : adminToken), body: Buffer.from(text) });
    },
    'wrong type': (t) => {
      if (!t.fields) return null;
      const field = r.pick(Object.keys(t.fields));
      const value = r.pick(wrongValues(t.fields[field], r));
      const body = { ...bodyOf(t), [field]: value };
      return mk(t, `${field}: ${JSON.stringify(value)?.slice(0, 30)}`, { path: validPath(t), headers: jsonHeaders(adminToken), body: Buffer.from(JSON.stringify(body)) });
    },
    'unknown field': (t) => {
      if (!t.fields) return null;
      const field = r.pick(['__proto__', 'constructor', 'is_admin', `x_${w()}`, 'role', 'workspace_id', 'hmac_key_encrypted', 'status'].filter((f) => !(f in t.fields!)));
      const body = `{${JSON.stringify(bodyOf(t)).slice(1, -1)},${JSON.stringify(field)}:${JSON.stringify(r.pick([1, 'admin', { polluted: true }, null]))}}`;
      return mk(t, `unknown field ${field}`, { path: validPath(t), headers: jsonHeaders(adminToken), body: Buffer.from(body) });
    },
    'huge body': (t) => {
      if (!t.body) return null;
      const size = r.pick([6 * 1024 * 1024 + 10, 13 * 1024 * 1024]);
      const body = Buffer.from(JSON.stringify({ ...bodyOf(t), pad: 'x'.repeat(size) }));
      return mk(t, `${(body.length / 1048576).toFixed(1)} MiB body`, { path: validPath(t), headers: jsonHeaders(t.public ? null : adminToken), body });
    },
    'bad query': (t) => {
      if (!t.query) return null;
      const name = r.pick(Object.keys(t.query));
      const value = r.pick(t.query[name]);
      return mk(t, `${name}=${value.slice(0, 20)}`, { path: `${validPath(t)}?${name}=${encodeURIComponent(value)}`, headers: auth(adminToken) });
    },
    'wrong content type': (t) => {
      if (!t.body) return null;
      if (t.route.endsWith('/configuration-versions')) {
        const [type, body] = r.pick([
          ['text/plain', Buffer.from(JSON.stringify(bodyOf(t)))],
          ['multipart/form-data; boundary=x', Buffer.from('--x\r\n\r\nmain.tf\r\n--x--')],
          ['application/gzip', Buffer.from('not a gzip archive at all')],
          ['application/gzip', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xff, 0xff])],
          ['application/x-tar', Buffer.alloc(0)],
          ['application/octet-stream', Buffer.alloc(1024, 7)],
          ['application/xml', Buffer.from('<files/>')],
        ] as const);
        return mk(t, `content-type ${type}`, { path: validPath(t), headers: { ...auth(adminToken), 'content-type': type }, body });
      }
      const type = r.pick(['application/xml', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=z']);
      return mk(t, `content-type ${type} with a form body`, { path: validPath(t), headers: { ...auth(t.public ? null : adminToken), 'content-type': type }, body: Buffer.from(type.includes('xml') ? '<a>1</a>' : 'name=x&role=admin') });
    },
    'wrong method': (t) => {
      const others = ['PUT', 'PATCH', 'DELETE', 'POST', 'GET'].filter((m) => !routes.some((x) => x.path === t.route && x.method === m));
      if (!others.length) return null;
      const method = r.pick(others);
      return { ...mk(t, `method ${method}`, { path: validPath(t), headers: auth(adminToken) }), method };
    },
  };
  const categories = Object.keys(generators);

  const cases: Case[] = [];
  // Every route with every category that applies to it, then random ones up to CASES.
  for (const t of TEMPLATES) for (const cat of categories) {
    const c = generators[cat](t);
    if (c) cases.push(c);
  }
  for (const path of ['/api/v1/nope', '/api/v2/workspaces', '/api/v1/', '/api/v1/workspaces/a/b/c/d/e', '/api/v1/tasks/1/logs/x', '/api/v1/%E0%A4%A']) {
    cases.push({ label: `unknown route ${path}`, route: null, method: 'GET', path, headers: { authorization: `Bearer ${adminToken}` } });
  }
  for (let guard = 0; cases.length < CASES && guard < 100_000; guard++) {
    const c = generators[r.pick(categories)](r.pick(TEMPLATES));
    if (c) cases.push(c);
  }
  return cases;
}

// ---------- sending, and what is stored ----------

let rw: TestRunway;
let api: ApiClient;
let receiver: Receiver;

function send(c: Case): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: rw.app.port, method: c.method, path: c.path, headers: { ...c.headers, ...(c.body ? { 'content-length': String(c.body.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    // The server may answer a too-large body before reading it all and close the connection.
    req.on('error', (err) => reject(new Error(`${c.label}: ${err.message}`)));
    req.end(c.body);
  });
}

/** Every DynamoDB item and every file under DATA_DIR (blobs, key, DynamoDB files aside), by content. */
async function stored(): Promise<{ items: string[]; blobs: string[] }> {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: rw.app.dynamoEndpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
  const items: string[] = [];
  try {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await db.send(new ScanCommand({ TableName: 'runway', ExclusiveStartKey: start, ConsistentRead: true }));
      items.push(...(page.Items ?? []).map((i) => JSON.stringify(Object.fromEntries(Object.entries(i).sort(([a], [b]) => a.localeCompare(b))))));
      start = page.LastEvaluatedKey;
    } while (start);
  } finally {
    db.destroy();
  }
  const blobs: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else blobs.push(`${relative(rw.app.dataDir, p)} ${createHash('sha256').update(await readFile(p)).digest('hex')}`);
    }
  };
  await walk(join(rw.app.dataDir, 'blobs'));
  return { items: items.sort(), blobs: blobs.sort() };
}

/** What the API shows of everything a request could have changed. */
async function shown(): Promise<string[]> {
  const paths = [
    '/workspaces',
    '/users',
    '/run-tasks',
    `/workspaces/${FIX.workspace_id}`,
    `/workspaces/${FIX.workspace_id}/variables`,
    `/workspaces/${FIX.workspace_id}/tasks`,
    `/workspaces/${FIX.workspace_id}/state`,
    `/workspaces/${FIX.workspace_id}/run-tasks`,
    `/tasks/${FIX.task_id}`,
    `/tasks/${FIX.task_id}/run-task-results`,
    `/tasks/${FIX.task_id}/artifacts`,
    '/audit-events',
    '/audit-events/verify',
  ];
  return Promise.all(paths.map(async (p) => `${p} ${(await api.get(p)).raw.toString()}`));
}

beforeAll(async () => {
  rw = await startRunway();
  api = rw.api;
  adminToken = rw.adminToken;
  receiver = await startReceiver(null, () => ({ kind: 'pass' }));
  const user = await api.post('/users', { username: 'fz-member', role: 'member' });
  memberToken = user.body.token;
  const ws = await createWorkspace(api, { name: 'fz-main' });
  FIX.workspace_id = ws.name;
  FIX.configuration_version_id = (await uploadConfig(api, ws.name, { 'main.tf': 'resource "terraform_data" "x" {\n  input = "fuzz"\n}\n' })).configuration_version_id;
  expect((await api.put(`/workspaces/${ws.name}/variables/region`, { value: 'eu-west-1', category: 'terraform' })).status).toBe(200);
  FIX.key = 'region';
  const rt = await api.post('/run-tasks', { name: 'fz-rt', endpoint_url: receiver.url });
  FIX.run_task_id = rt.body.run_task_id;
  const att = await api.post(`/workspaces/${ws.name}/run-tasks`, { run_task_id: FIX.run_task_id, stage: 'post_plan', enforcement_level: 'advisory' });
  FIX.workspace_run_task_id = att.body.workspace_run_task_id;
  const run = await waitForEnd(api, (await startTask(api, ws.name, 'plan')).task_id, 90_000);
  expect(run.status).toBe('success');
  FIX.task_id = String(run.task_id);
  FIX.artifact_id = (await api.get(`/tasks/${run.task_id}/artifacts`)).body.artifacts[0].artifact_id;
  FIX.result_id = (await api.get(`/tasks/${run.task_id}/run-task-results`)).body.stages.post_plan[0].result_id;
  // The run is over once its lock is free; nothing is being written any more.
  await waitUntil(async () => ((await api.get(`/workspaces/${ws.name}`)).body.locked_by_task === null ? true : undefined), 'the lock to be free');
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await rw?.stop();
});

test(`${CASES} generated malformed requests across every route: each a 4xx JSON {error, message}, and nothing stored changes`, async () => {
  const cases = generate();
  expect(cases.length).toBeGreaterThanOrEqual(200);
  // Every route of the API is aimed at, by several kinds of breakage.
  const aimed = new Set(cases.map((c) => c.route));
  expect(routes.map((r) => `${r.method} ${r.path}`).filter((r) => !aimed.has(r))).toEqual([]);
  // The same seed gives the same requests.
  expect(generate().map((c) => c.label)).toEqual(cases.map((c) => c.label));

  const [storedBefore, shownBefore] = [await stored(), await shown()];
  const failures: string[] = [];
  const statuses: Record<number, number> = {};
  for (const c of cases) {
    const res = await send(c);
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    let body: { error?: unknown; message?: unknown } | null = null;
    try {
      body = JSON.parse(res.body.toString('utf8'));
    } catch {
      /* not JSON: reported below */
    }
    const ok = res.status >= 400 && res.status < 500 && res.type.startsWith('application/json') && typeof body?.error === 'string' && typeof body?.message === 'string' && (body.message as string).length > 0;
    if (!ok) failures.push(`${c.label} → ${res.status} ${res.type} ${res.body.toString('utf8').slice(0, 160)}`);
  }
  expect(failures).toEqual([]);
  expect(Object.keys(statuses).map(Number).every((s) => s >= 400 && s < 500)).toBe(true);

  // Nothing changed: every item and blob, and what the API shows (audit count and chain included).
  const storedAfter = await stored();
  expect(storedAfter.items.filter((i) => !storedBefore.items.includes(i))).toEqual([]);
  expect(storedBefore.items.filter((i) => !storedAfter.items.includes(i))).toEqual([]);
  expect(storedAfter.blobs).toEqual(storedBefore.blobs);
  expect(await shown()).toEqual(shownBefore);
}, 240_000);
