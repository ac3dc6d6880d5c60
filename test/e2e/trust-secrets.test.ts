/**
 * Secrets (SPEC §3, §5, §6): sensitive variables and run-task HMAC keys are encrypted at rest and
 * never appear in an API answer, a log line (stored, downloaded or the process's own), an error
 * message or an audit event. A local-exec provisioner prints the sensitive values; terraform's
 * output shows them masked. At rest, every file under DATA_DIR (the embedded DynamoDB's files and
 * the blobs) and every DynamoDB item is searched for the plain values.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { apiClient, createWorkspace, startRunway, startTask, uniqueName, uploadConfig, waitForEnd, type ApiClient, type TaskView, type TestRunway } from '../support/runway.js';

const SECRET_TF = 'tf-S3cret-Value-4711';
const SECRET_TF_ROTATED = 'tf-S3cret-Rotated-5822';
const SECRET_ENV = 'env-S3cret-Value-9931';
const HMAC_KEY = 'hmac-S3cret-Key-0042';
const SECRETS = [SECRET_TF, SECRET_TF_ROTATED, SECRET_ENV, HMAC_KEY];

// db_password is not declared sensitive in terraform, so terraform prints it: Runway must mask it.
const CONFIG = {
  'main.tf': `
variable "db_password" {
  type = string
}

variable "region" {
  type = string
}

resource "terraform_data" "x" {
  input = var.region
  provisioner "local-exec" {
    command = "echo password=\${var.db_password} token=$API_TOKEN region=\${var.region}"
  }
}

output "region" {
  value = terraform_data.x.output
}
`,
};

/** Every answer of the API to this file's clients, with its bytes. */
const answers: { what: string; raw: string }[] = [];
/** Everything the embedded default logged, and what its code printed to the console. */
const processLogs: string[] = [];

let rw: TestRunway;
let api: ApiClient;
let receiver: Receiver;
let ws: string;
let run: TaskView;
let rtId: string;

const CONSOLE = ['log', 'info', 'warn', 'error'] as const;
const originals: Partial<Record<(typeof CONSOLE)[number], (...args: unknown[]) => void>> = {};

const leaks = (text: string) => SECRETS.filter((s) => text.includes(s));

beforeAll(async () => {
  for (const level of CONSOLE) {
    const original = (originals[level] = console[level]);
    console[level] = (...args: unknown[]) => {
      processLogs.push(args.map(String).join(' '));
      original.apply(console, args);
    };
  }
  rw = await startRunway({ log: (entry) => processLogs.push(JSON.stringify(entry)) });
  api = apiClient(rw.app.url, rw.adminToken, { onResponse: (method, path, res) => answers.push({ what: `${method} ${path} → ${res.status}`, raw: res.raw.toString('utf8') }) });
  receiver = await startReceiver(HMAC_KEY, () => ({ kind: 'pass', fetchPlan: true }));

  ws = uniqueName('secrets');
  await createWorkspace(api, { name: ws, auto_apply: true });
  await uploadConfig(api, ws, CONFIG);
  for (const [key, body] of [
    ['db_password', { value: SECRET_TF, category: 'terraform', sensitive: true }],
    ['region', { value: 'eu-west-1', category: 'terraform' }],
    ['API_TOKEN', { value: SECRET_ENV, category: 'env', sensitive: true }],
  ] as const) {
    const res = await api.put(`/workspaces/${ws}/variables/${key}`, body);
    expect(res.status).toBe(200);
  }
  const rt = await api.post('/run-tasks', { name: 'signed', endpoint_url: receiver.url, hmac_key: HMAC_KEY });
  expect(rt.status).toBe(201);
  rtId = rt.body.run_task_id;
  expect((await api.post(`/workspaces/${ws}/run-tasks`, { run_task_id: rtId, stage: 'post_plan', enforcement_level: 'mandatory' })).status).toBe(201);

  run = await waitForEnd(api, (await startTask(api, ws, 'plan_and_apply')).task_id, 120_000);
}, 180_000);

afterAll(async () => {
  for (const level of CONSOLE) if (originals[level]) console[level] = originals[level]!;
  await receiver?.close();
  await rw?.stop();
});

describe('sensitive variables', () => {
  it('ran: the run task verified the signature made with the stored key, and the apply succeeded', () => {
    expect(run.status).toBe('success');
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0].signatureValid).toBe(true);
  });

  it('are masked in terraform output printed by local-exec, in every form of the log', async () => {
    const text = (await api.get(`/tasks/${run.task_id}/logs?type=apply&format=text`)).body as string;
    expect(text).toMatch(/\(local-exec\): password=\*\*\* token=\*\*\* region=eu-west-1$/m);
    expect(text).toMatch(/Executing: .*password=\*\*\* token=\$API_TOKEN/);
    for (const form of ['logs?format=json', 'logs?format=text&type=all', 'logs/download']) {
      const res = await api.get(`/tasks/${run.task_id}/${form}`);
      expect(res.status).toBe(200);
      expect(leaks(res.raw.toString())).toEqual([]);
    }
  });

  it('are never returned: listed as set without a value, also right after being written or rotated', async () => {
    const put = await api.put(`/workspaces/${ws}/variables/db_password`, { value: SECRET_TF_ROTATED, category: 'terraform', sensitive: true });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ key: 'db_password', value: null, value_set: true, sensitive: true });
    const list = await api.get(`/workspaces/${ws}/variables`);
    const byKey = Object.fromEntries(list.body.variables.map((v: { key: string }) => [v.key, v]));
    expect(byKey.db_password).toMatchObject({ value: null, value_set: true, sensitive: true });
    expect(byKey.API_TOKEN).toMatchObject({ value: null, value_set: true, sensitive: true });
    expect(byKey.region).toMatchObject({ value: 'eu-west-1', sensitive: false });
  });

  it('are not in the plan JSON, neither as users nor as the run task fetch it', async () => {
    const plan = await api.get(`/workspaces/${ws}/tasks/${run.task_id}/plan-json`);
    expect(plan.status).toBe(200);
    expect(leaks(plan.raw.toString())).toEqual([]);
    expect(plan.body.variables.db_password.value).toBe('***');
    expect(plan.body.variables.region.value).toBe('eu-west-1');
    expect(receiver.planFetches).toHaveLength(1);
    expect(receiver.planFetches[0].status).toBe(200);
    expect(leaks(JSON.stringify(receiver.planFetches[0].body))).toEqual([]);
    for (const a of (await api.get(`/tasks/${run.task_id}/artifacts`)).body.artifacts as { artifact_id: string; kind: string }[]) {
      if (a.kind === 'plan_file') continue; // terraform's own binary plan: checked at rest below
      const res = await api.get(`/artifacts/${a.artifact_id}/download`);
      expect({ kind: a.kind, status: res.status, leaks: leaks(res.raw.toString()) }).toEqual({ kind: a.kind, status: 200, leaks: [] });
    }
  });

  it('are not echoed by errors about the requests that carry them', async () => {
    const refusals = [
      await api.put(`/workspaces/${ws}/variables/db_password`, { value: SECRET_TF, category: 'nope', sensitive: true }),
      await api.put(`/workspaces/${ws}/variables/db_password`, { value: SECRET_TF, category: 'terraform', sensitive: true, extra: SECRET_TF }),
      await api.put(`/workspaces/${ws}/variables/db_password`, { value: SECRET_TF, category: 'terraform', sensitive: false }),
      await api.put(`/workspaces/${ws}/variables/${SECRET_TF}`, { value: SECRET_TF, category: 'terraform', sensitive: true }),
      await api.put(`/workspaces/${ws}/variables/db_password`, `{"value": "${SECRET_TF}", "category": `),
      await api.put(`/workspaces/${ws}/variables/db_password`, { value: [SECRET_TF], category: 'terraform', sensitive: true }),
      await api.post('/run-tasks', { name: 'meta', endpoint_url: 'http://169.254.169.254/latest', hmac_key: HMAC_KEY }),
      await api.post('/run-tasks', { name: 'bad name', endpoint_url: receiver.url, hmac_key: HMAC_KEY }),
      await api.put(`/run-tasks/${rtId}`, { hmac_key: 42, description: HMAC_KEY.repeat(100) }),
    ];
    for (const res of refusals) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect({ status: res.status, leaks: leaks(res.raw.toString()) }).toEqual({ status: res.status, leaks: [] });
    }
  });
});

describe('HMAC keys', () => {
  it('are write-only: answers carry hmac_key_set and the fingerprint, never the key', async () => {
    const calls = [
      await api.get(`/run-tasks/${rtId}`),
      await api.get('/run-tasks'),
      await api.put(`/run-tasks/${rtId}`, { description: 'rotated', hmac_key: `${HMAC_KEY}` }),
      await api.post(`/run-tasks/${rtId}/verify`),
      await api.get(`/workspaces/${ws}/run-tasks`),
      await api.get(`/tasks/${run.task_id}/run-task-results`),
    ];
    for (const res of calls) expect({ status: res.status, leaks: leaks(res.raw.toString()) }).toEqual({ status: 200, leaks: [] });
    expect(calls[0].body).toMatchObject({ hmac_key_set: true, hmac_key_fingerprint: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(calls[0].body).not.toHaveProperty('hmac_key');
    expect(calls[0].body).not.toHaveProperty('hmac_key_encrypted');
    expect(calls[3].body).toMatchObject({ ok: true });
  });
});

describe('at rest and in the record', () => {
  it('DynamoDB holds sensitive values and HMAC keys only encrypted (with the instance key)', async () => {
    const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: rw.app.dynamoEndpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
    try {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await db.send(new ScanCommand({ TableName: 'runway', ExclusiveStartKey: start }));
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      expect(items.length).toBeGreaterThan(20);
      expect(items.flatMap((i) => leaks(JSON.stringify(i)).map((s) => `${i.pk}/${i.sk}: ${s}`))).toEqual([]);

      const variable = items.find((i) => String(i.sk).endsWith('VAR#db_password')) as { value: string };
      expect(variable.value).toMatch(/^v1:/);
      expect(await rw.app.deps.secrets.decrypt(variable.value)).toBe(SECRET_TF_ROTATED);
      const rt = items.find((i) => i.run_task_id === rtId && 'hmac_key_encrypted' in i) as { hmac_key_encrypted: string };
      expect(await rw.app.deps.secrets.decrypt(rt.hmac_key_encrypted)).toBe(HMAC_KEY);
    } finally {
      db.destroy();
    }
  });

  it('no file under DATA_DIR holds a plain value: blobs, state, logs, plans, the embedded DynamoDB', async () => {
    const files: string[] = [];
    const walk = async (dir: string) => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(dir, e.name));
        else files.push(join(dir, e.name));
      }
    };
    await walk(rw.app.dataDir);
    expect(files.some((f) => f.includes(`${join('blobs', 'tasks', String(run.task_id))}`))).toBe(true);
    const found: string[] = [];
    for (const f of files) {
      const body = await readFile(f);
      for (const s of SECRETS) if (body.includes(s)) found.push(`${relative(rw.app.dataDir, f)}: ${s}`);
    }
    expect(found).toEqual([]);
  });

  it('audit events record the changes without the values', async () => {
    const res = await api.get('/audit-events');
    expect(res.body.audit_events.filter((e: { action: string }) => e.action === 'variable.put')).toHaveLength(4);
    expect(leaks(res.raw.toString())).toEqual([]);
  });

  it('no answer of the API and no line the process logged held a plain value', () => {
    expect(answers.length).toBeGreaterThan(30);
    expect(answers.flatMap((a) => leaks(a.raw).map((s) => `${a.what}: ${s}`))).toEqual([]);
    expect(processLogs.flatMap((l) => leaks(l).map((s) => `${s} in ${l.slice(0, 200)}`))).toEqual([]);
  });
});
