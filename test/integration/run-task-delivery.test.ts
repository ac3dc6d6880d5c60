/**
 * Delivering a run-task POST over real HTTP on loopback (SPEC §5.1–5.2): the headers and signature
 * the endpoint receives, 200/202 accepted, three attempts with back-off otherwise, a bounded wait,
 * and the address policy applied after DNS resolution, at connect time.
 */
import { createHmac } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpWebhooks } from '../../functions/adapters/http/webhooks.js';
import { MemoryMetrics } from '../../functions/adapters/metrics/memory.js';
import { LocalSecrets } from '../../functions/adapters/secrets/local.js';
import type { Deps } from '../../functions/core/deps.js';
import type { RunTask } from '../../functions/core/model.js';
import type { AddressPolicy } from '../../functions/core/network.js';
import { deliver } from '../../functions/core/run-task-execution.js';
import { settingsFromEnv } from '../../functions/services.js';

interface Hit {
  at: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An endpoint answering each POST with the next scripted status (the last one repeats); null: never answers. */
async function endpoint(script: (number | null)[], host = '127.0.0.1') {
  const hits: Hit[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks) });
      const code = script[Math.min(hits.length - 1, script.length - 1)];
      if (code === null) hanging.push(res);
      else res.writeHead(code).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let dataDir: string;
let secrets: LocalSecrets;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'runway-delivery-'));
  secrets = new LocalSecrets(join(dataDir, 'secret.key'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function depsWith(policy: AddressPolicy, env: Record<string, string> = {}): Deps {
  const settings = settingsFromEnv({ RUN_TASK_RETRY_BASE_MS: '50', ...env });
  settings.runTasks.addresses = policy;
  // deliver() uses only these ports.
  return { settings, secrets, webhooks: new HttpWebhooks(policy), metrics: new MemoryMetrics() } as unknown as Deps;
}

async function runTask(url: string, hmacKey: string | null): Promise<RunTask> {
  const now = new Date().toISOString();
  return {
    run_task_id: 'rt-delivery',
    name: 'delivery',
    description: '',
    endpoint_url: url,
    hmac_key_encrypted: hmacKey ? await secrets.encrypt(hmacKey) : null,
    hmac_key_fingerprint: null,
    enabled: true,
    timeout_seconds: 600,
    is_global: false,
    global_stage: null,
    global_enforcement_level: null,
    organization_id: null,
    team_id: null,
    created_by: 'admin',
    created_at: now,
    updated_at: now,
  };
}

const loopbackOk: AddressPolicy = { allowLoopback: true, allowPrivate: false };
const BODY = JSON.stringify({ payload_version: 1, stage: 'post_plan', task_description: 'naïve — 部署' });

describe('deliver', () => {
  it('POSTs the exact body with Content-Type, User-Agent and the bare hex HMAC-SHA512 signature', async () => {
    const ep = await endpoint([200]);
    try {
      const deps = depsWith(loopbackOk);
      const report = await deliver(deps, await runTask(ep.url, 'secret-key-123'), BODY);
      expect(report).toMatchObject({ ok: true, status: 200, attempts: 1, error: null });
      expect(ep.hits).toHaveLength(1);
      const hit = ep.hits[0];
      expect(hit.body.toString('utf8')).toBe(BODY);
      expect(hit.headers['content-type']).toBe('application/json');
      expect(hit.headers['user-agent']).toBe(`Runway/${deps.settings.version}`);
      expect(hit.headers['x-tfc-task-signature']).toBe(createHmac('sha512', 'secret-key-123').update(hit.body).digest('hex'));
    } finally {
      await ep.close();
    }
  });

  it('sends an empty signature header when the run task has no HMAC key', async () => {
    const ep = await endpoint([200]);
    try {
      expect((await deliver(depsWith(loopbackOk), await runTask(ep.url, null), BODY)).ok).toBe(true);
      expect(ep.hits[0].headers['x-tfc-task-signature']).toBe('');
    } finally {
      await ep.close();
    }
  });

  it('accepts 202', async () => {
    const ep = await endpoint([202]);
    try {
      expect(await deliver(depsWith(loopbackOk), await runTask(ep.url, null), BODY)).toMatchObject({ ok: true, status: 202, attempts: 1 });
    } finally {
      await ep.close();
    }
  });

  it('tries 3 times with back-off, then reports the last answer', async () => {
    const ep = await endpoint([500, 503, 500]);
    try {
      const report = await deliver(depsWith(loopbackOk), await runTask(ep.url, null), BODY);
      expect(report).toMatchObject({ ok: false, status: 500, attempts: 3 });
      expect(report.error).toMatch(/500/);
      expect(ep.hits).toHaveLength(3);
      // base 50 ms, doubling: ≥ 50 ms then ≥ 100 ms between attempts
      expect(ep.hits[1].at - ep.hits[0].at).toBeGreaterThanOrEqual(45);
      expect(ep.hits[2].at - ep.hits[1].at).toBeGreaterThanOrEqual(95);
    } finally {
      await ep.close();
    }
  });

  it('stops retrying once an attempt succeeds', async () => {
    const ep = await endpoint([500, 200]);
    try {
      expect(await deliver(depsWith(loopbackOk), await runTask(ep.url, null), BODY)).toMatchObject({ ok: true, status: 200, attempts: 2 });
      expect(ep.hits).toHaveLength(2);
    } finally {
      await ep.close();
    }
  });

  it('bounds each attempt (an endpoint that never answers)', async () => {
    const ep = await endpoint([null]);
    try {
      const started = Date.now();
      const report = await deliver(depsWith(loopbackOk, { RUN_TASK_ATTEMPT_TIMEOUT_MS: '200' }), await runTask(ep.url, null), BODY);
      expect(report).toMatchObject({ ok: false, status: null, attempts: 3 });
      expect(report.error).toMatch(/no answer within 200 ms/);
      expect(ep.hits).toHaveLength(3);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await ep.close();
    }
  });

  it('reports a connection failure', async () => {
    const ep = await endpoint([200]);
    await ep.close(); // nothing listens on the port any more
    const report = await deliver(depsWith(loopbackOk), await runTask(ep.url, null), BODY);
    expect(report).toMatchObject({ ok: false, status: null, attempts: 3 });
    expect(report.error).toMatch(/ECONNREFUSED|connect/);
  });
});

describe('the address policy at call time', () => {
  it('sends nothing to a loopback address when loopback is not allowed', async () => {
    const ep = await endpoint([200]);
    try {
      const report = await deliver(depsWith({ allowLoopback: false, allowPrivate: false }), await runTask(ep.url, null), BODY);
      expect(report.ok).toBe(false);
      expect(report.error).toMatch(/refused.*loopback/);
      expect(ep.hits).toHaveLength(0);
    } finally {
      await ep.close();
    }
  });

  it('refuses a name whose DNS answer is a refused address (checked after resolution)', async () => {
    // This machine's own name resolves to one of its addresses: loopback or private, never public on a test host.
    const name = hostname();
    const resolved = await lookup(name, { all: true });
    expect(resolved.length).toBeGreaterThan(0);
    // Listening on every interface, so the name reaches the endpoint whichever address it resolves to.
    const ep = await endpoint([200], '::');
    try {
      const webhooks = new HttpWebhooks({ allowLoopback: false, allowPrivate: false });
      await expect(webhooks.post(`http://${name}:${ep.port}/hook`, BODY, { 'content-type': 'application/json' }, 2_000)).rejects.toThrow(/refused after DNS/);
      expect(ep.hits).toHaveLength(0);
      // The same name is called when its addresses are allowed.
      const allowed = new HttpWebhooks({ allowLoopback: true, allowPrivate: true });
      await expect(allowed.post(`http://${name}:${ep.port}/hook`, BODY, { 'content-type': 'application/json' }, 2_000)).resolves.toMatchObject({ status: 200 });
      expect(ep.hits).toHaveLength(1);
    } finally {
      await ep.close();
    }
  });

  it('never calls a metadata address, whatever the policy', async () => {
    const webhooks = new HttpWebhooks({ allowLoopback: true, allowPrivate: true });
    await expect(webhooks.post('http://169.254.169.254/latest/meta-data/', BODY, {}, 2_000)).rejects.toThrow(/metadata/);
    await expect(webhooks.post('http://[fd00:ec2::254]/', BODY, {}, 2_000)).rejects.toThrow(/metadata/);
  });
});
