/**
 * A run-task receiver written only from the HCP Terraform run-task contract (it shares no code
 * with functions/): it checks `X-TFC-Task-Signature` the way HashiCorp's samples do — HMAC-SHA512
 * over `JSON.stringify` of the parsed body —, fetches the plan JSON with the access token, and
 * calls back `running` then a final status with outcomes. Each request's behaviour is scripted.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  payload: Record<string, unknown>;
  headers: IncomingMessage['headers'];
  signatureValid: boolean | null;
  receivedAt: number;
}

export type Behaviour =
  | { kind: 'pass' | 'fail'; message?: string; outcomes?: unknown[]; callBeforeAnswer?: boolean; sendRunning?: boolean; fetchPlan?: boolean; delayMs?: number }
  | { kind: 'status'; code: number }
  | { kind: 'silent' };

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** callbacks' answers, in order */
  callbackStatuses: number[];
  planFetches: { status: number; body: unknown }[];
  /** resolves when `n` requests have arrived */
  waitForRequests(n: number): Promise<void>;
  /** resolves when `n` final callbacks have been answered */
  waitForCallbacks(n: number): Promise<void>;
  behaviour: (payload: Record<string, unknown>) => Behaviour;
  close(): Promise<void>;
}

export async function startReceiver(hmacKey: string | null, behaviour: Receiver['behaviour']): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const callbackStatuses: number[] = [];
  const planFetches: Receiver['planFetches'] = [];
  const waiters: { n: number; kind: 'req' | 'cb'; resolve: () => void }[] = [];
  let finals = 0;
  const settle = () => {
    for (const w of [...waiters]) {
      if ((w.kind === 'req' && requests.length >= w.n) || (w.kind === 'cb' && finals >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  async function callback(p: Record<string, unknown>, body: unknown): Promise<number> {
    const res = await fetch(p.task_result_callback_url as string, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${p.access_token}`, 'content-type': 'application/vnd.api+json' },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res.status;
  }

  async function act(p: Record<string, unknown>, b: Extract<Behaviour, { kind: 'pass' | 'fail' }>) {
    if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
    if (b.fetchPlan && p.plan_json_api_url) {
      const r = await fetch(p.plan_json_api_url as string, { headers: { authorization: `Bearer ${p.access_token}` } });
      planFetches.push({ status: r.status, body: await r.json().catch(() => null) });
    }
    if (b.sendRunning) callbackStatuses.push(await callback(p, { data: { type: 'task-results', attributes: { status: 'running', message: 'checking…' } } }));
    const status = await callback(p, {
      data: {
        type: 'task-results',
        attributes: { status: b.kind === 'pass' ? 'passed' : 'failed', message: b.message ?? (b.kind === 'pass' ? 'all checks passed' : 'checks failed'), url: 'https://receiver.example/results/1' },
        relationships: { outcomes: { data: (b.outcomes ?? []).map((attributes) => ({ type: 'task-result-outcomes', attributes })) } },
      },
    });
    callbackStatuses.push(status);
    finals++;
    settle();
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      let signatureValid: boolean | null = null;
      if (hmacKey) {
        // As the HashiCorp Node sample does: re-serialise the parsed body, then compare.
        const expected = createHmac('sha512', hmacKey).update(JSON.stringify(payload)).digest('hex');
        const got = String(req.headers['x-tfc-task-signature'] ?? '');
        signatureValid = got.length === expected.length && timingSafeEqual(Buffer.from(got), Buffer.from(expected));
      }
      requests.push({ payload, headers: req.headers, signatureValid, receivedAt: Date.now() });
      settle();
      if (hmacKey && !signatureValid) return void res.writeHead(401).end();
      // Verification requests are recognised by the test token or the "test" level.
      if (payload.access_token === 'test-token' || payload.task_result_enforcement_level === 'test') return void res.writeHead(200).end();
      const b = receiver.behaviour(payload);
      if (b.kind === 'status') return void res.writeHead(b.code).end();
      if (b.kind === 'silent') return void res.writeHead(200).end();
      if (b.callBeforeAnswer) {
        // HashiCorp's samples call back before they answer the POST.
        act(payload, b).finally(() => res.writeHead(200).end());
      } else {
        res.writeHead(200).end();
        void act(payload, b);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const receiver: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests,
    callbackStatuses,
    planFetches,
    behaviour,
    waitForRequests: (n) => new Promise((resolve) => (waiters.push({ n, kind: 'req', resolve }), settle())),
    waitForCallbacks: (n) => new Promise((resolve) => (waiters.push({ n, kind: 'cb', resolve }), settle())),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return receiver;
}
