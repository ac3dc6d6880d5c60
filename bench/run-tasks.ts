/**
 * Run tasks (SPEC §5): the platform's own cost of a run-task call, and of a wide stage.
 *
 * 1. Round trip of one run task, with a receiver on loopback that answers the POST and calls back
 *    `passed` at once. Definition: the stage's `stage_timings` entry, i.e. from the stage's Prepare
 *    (before its results are created) through the token, the POST, the callback, the Map ending, to
 *    the state machine resuming in Decide — on the server's clock. One run task is attached at
 *    pre_plan and at post_plan of a plan-only workspace; each run gives two calls.
 *    The breakdown uses the same clock (one process): Prepare (≈ the END marker − stage_timings),
 *    the POST's arrival at the receiver, the result's completed_at (callback applied), the END
 *    marker (Decide). The receiver's "callback answered" also includes the audit append, which the
 *    callback does after it has released the workflow.
 * 2. Wall time of one stage with 100 run tasks attached (100 definitions, one workspace, post_plan).
 *
 * Goals: round trip p50 ≤ 50 ms; the 100-task stage ≤ 1 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { startEmbedded, type Embedded } from '../local/embedded.js';
import { median, ms, percentile } from './stats.js';

const CONFIG = 'resource "terraform_data" "x" {}\n';

interface Arrival {
  resultId: string;
  stage: string;
  postAt: number;
  callbackDoneAt?: number;
}

/**
 * The receiver's code, run in a worker thread so that its work does not queue on the platform's
 * event loop (a real receiver runs elsewhere). Answers 200, then calls back `passed` at once, as a
 * fast receiver written for HCP Terraform would.
 */
const RECEIVER = `
const { parentPort } = require('node:worker_threads');
const { createServer } = require('node:http');
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const postAt = Date.now();
    const p = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    res.writeHead(200).end();
    if (p.access_token === 'test-token') return;
    parentPort.postMessage({ kind: 'post', resultId: p.task_result_id, stage: p.stage, postAt });
    fetch(p.task_result_callback_url, {
      method: 'PATCH',
      headers: { authorization: 'Bearer ' + p.access_token, 'content-type': 'application/vnd.api+json' },
      body: JSON.stringify({ data: { type: 'task-results', attributes: { status: 'passed', message: 'ok' } } }),
    })
      .then(async (r) => {
        await r.arrayBuffer();
        parentPort.postMessage({ kind: 'done', resultId: p.task_result_id, status: r.status, at: Date.now() });
      })
      .catch((err) => parentPort.postMessage({ kind: 'done', resultId: p.task_result_id, status: 0, error: String(err), at: Date.now() }));
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ kind: 'listening', port: server.address().port }));
parentPort.on('message', (m) => m === 'close' && (server.closeAllConnections(), server.close(() => process.exit(0))));
`;

async function fastReceiver(): Promise<{ url: string; arrivals: Arrival[]; settled: () => Promise<void>; close: () => Promise<void> }> {
  const arrivals: Arrival[] = [];
  const byId = new Map<string, Arrival>();
  let waiting: (() => void) | null = null;
  const allDone = () => arrivals.every((a) => a.callbackDoneAt !== undefined);
  const worker = new Worker(RECEIVER, { eval: true });
  const port = await new Promise<number>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (m: { kind: string; port?: number; resultId?: string; stage?: string; postAt?: number; status?: number; at?: number; error?: string }) => {
      if (m.kind === 'listening') resolve(m.port!);
      else if (m.kind === 'post') {
        const a: Arrival = { resultId: m.resultId!, stage: m.stage!, postAt: m.postAt! };
        arrivals.push(a);
        byId.set(a.resultId, a);
      } else if (m.kind === 'done') {
        if (m.status !== 200) throw new Error(`callback of ${m.resultId} answered ${m.status} ${m.error ?? ''}`);
        const a = byId.get(m.resultId!);
        if (a) a.callbackDoneAt = m.at;
        if (waiting && allDone()) waiting();
      }
    });
  });
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    settled: () => (allDone() ? Promise.resolve() : new Promise<void>((r) => (waiting = () => ((waiting = null), r())))),
    close: async () => {
      worker.postMessage('close');
      await new Promise((r) => worker.once('exit', r));
    },
  };
}

function client(app: Embedded) {
  const h = { authorization: `Bearer ${app.adminToken}`, 'content-type': 'application/json' };
  return async <T = Record<string, any>>(method: string, path: string, body?: unknown): Promise<T> => {
    const r = await fetch(`${app.url}/api/v1${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${method} ${path} answered ${r.status}: ${text}`);
    return (text ? JSON.parse(text) : null) as T;
  };
}

type Call = ReturnType<typeof client>;

async function runPlan(call: Call, ws: string): Promise<Record<string, any>> {
  const created = await call('POST', `/workspaces/${ws}/tasks`, { task_type: 'plan' });
  const deadline = Date.now() + 120_000;
  for (;;) {
    const t = await call('GET', `/tasks/${created.task_id}`);
    if (['success', 'failed', 'errored', 'cancelled'].includes(t.status)) {
      if (t.status !== 'success') throw new Error(`bench run ${t.task_id} ended ${t.status}: ${t.error_message}`);
      return t;
    }
    if (Date.now() > deadline) throw new Error(`bench run ${created.task_id} did not end`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** BEGIN/END marker times of a stage, from the stored log's marker lines (server clock, UTC). */
async function markers(app: Embedded, taskId: number, stage: string): Promise<{ begin: number; end: number }> {
  const r = await fetch(`${app.url}/api/v1/tasks/${taskId}/logs?type=all&format=text`, { headers: { authorization: `Bearer ${app.adminToken}` } });
  const text = await r.text();
  const at = (status: string) => {
    const m = new RegExp(`^========== ${stage.toUpperCase()} ${status} at (\\S+) (\\S+) ==========$`, 'm').exec(text);
    if (!m) throw new Error(`no ${stage} ${status} marker in run ${taskId}`);
    return Date.parse(`${m[1]}T${m[2]}Z`);
  };
  return { begin: at('BEGIN'), end: at('END') };
}

const row = (label: string, xs: number[]) => `  ${label.padEnd(50)} p50 ${ms(median(xs)).padStart(9)}   p99 ${ms(percentile(xs, 99)).padStart(9)}   max ${ms(Math.max(...xs)).padStart(9)}`;

/** Counts the store operations the platform makes (the embedded store: an HTTP call to dynalite each). */
function countStoreCalls(app: Embedded): { reset(): void; readonly n: number } {
  let n = 0;
  const store = app.deps.store;
  app.deps.store = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        n++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    reset: () => void (n = 0),
    get n() {
      return n;
    },
  };
}

interface ResultTimes {
  result_id: string;
  stage: string;
  status: string;
  completed_at: string;
}

export async function benchRunTasks(opts: { calls?: number; wide?: number } = {}): Promise<void> {
  const calls = opts.calls ?? 60;
  const wide = opts.wide ?? 100;
  const dataDir = mkdtempSync(join(tmpdir(), 'runway-bench-rt-'));
  const app = await startEmbedded({ port: 0, dataDir, adminToken: 'bench-admin', env: { ...process.env, ALLOW_LOOPBACK_RUN_TASKS: 'true' } });
  const call = client(app);
  const rcv = await fastReceiver();
  const storeCalls = countStoreCalls(app);
  try {
    console.log(`run tasks — ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at start (the embedded default and its store share this process; the receiver runs in a worker thread)`);

    // ---- 1. round trip ----
    await call('POST', '/workspaces', { name: 'bench-rt', execution_mode: 'plan_only' });
    await call('POST', '/workspaces/bench-rt/configuration-versions', { files: { 'main.tf': CONFIG } });
    const rt = await call('POST', '/run-tasks', { name: 'bench-fast', endpoint_url: rcv.url, hmac_key: 'bench-key' });
    for (const stage of ['pre_plan', 'post_plan']) await call('POST', '/workspaces/bench-rt/run-tasks', { run_task_id: rt.run_task_id, stage, enforcement_level: 'mandatory' });
    await runPlan(call, 'bench-rt'); // warm-up: first requests, JIT, file cache
    rcv.arrivals.length = 0;

    const roundTrip: number[] = [];
    const toPost: number[] = [];
    const toCompleted: number[] = [];
    const toDecide: number[] = [];
    const callbackAnswer: number[] = [];
    const byStage: Record<string, number[]> = {};
    const runs = Math.ceil(calls / 2);
    for (let i = 0; i < runs; i++) {
      const t = await runPlan(call, 'bench-rt');
      await rcv.settled();
      const results = (await call('GET', `/tasks/${t.task_id}/run-task-results`)).run_task_results as ResultTimes[];
      for (const stage of ['pre_plan', 'post_plan']) {
        const r = results.find((x) => x.stage === stage);
        const a = rcv.arrivals.find((x) => x.resultId === r?.result_id);
        if (!r || r.status !== 'passed' || !a?.callbackDoneAt) throw new Error(`run ${t.task_id}: ${stage} result ${JSON.stringify(r)} not passed by the receiver`);
        const m = await markers(app, t.task_id, stage);
        const timing = t.stage_timings[stage] as number;
        // Decide closes stage_timings a moment after it writes the END marker: Prepare ≈ END − timing.
        const prepared = m.end - timing;
        const completed = Date.parse(r.completed_at);
        (byStage[stage] ??= []).push(timing);
        roundTrip.push(timing);
        toPost.push(a.postAt - prepared);
        toCompleted.push(completed - a.postAt);
        toDecide.push(m.end - completed);
        callbackAnswer.push(a.callbackDoneAt - a.postAt);
      }
    }
    console.log(`run tasks — round trip of one call (${roundTrip.length} calls; the receiver on loopback calls back at once)`);
    console.log('  definition: stage_timings[stage], from the stage\'s Prepare (before its results are created) to the state machine resuming in Decide');
    console.log(row('round trip (Prepare → Decide)', roundTrip));
    for (const [stage, xs] of Object.entries(byStage)) console.log(row(`  ${stage} only`, xs));
    console.log(row('  Prepare → POST arrives at the receiver', toPost));
    console.log(row('  POST arrives → result completed (callback applied)', toCompleted));
    console.log(row('  result completed → stage END marker (Decide)', toDecide));
    console.log(row('  (receiver: POST arrives → callback answered)', callbackAnswer));
    const p50 = median(roundTrip);
    console.log(`  goal p50 ≤ 50 ms: ${p50 <= 50 ? 'met' : 'MISSED'} (${ms(p50)})`);

    // ---- 2. one stage with many run tasks ----
    await call('POST', '/workspaces', { name: 'bench-wide', execution_mode: 'plan_only' });
    await call('POST', '/workspaces/bench-wide/configuration-versions', { files: { 'main.tf': CONFIG } });
    for (let i = 0; i < wide; i++) {
      const d = await call('POST', '/run-tasks', { name: `bench-wide-${i}`, endpoint_url: rcv.url, hmac_key: `key-${i}` });
      await call('POST', '/workspaces/bench-wide/run-tasks', { run_task_id: d.run_task_id, stage: 'post_plan', enforcement_level: 'mandatory' });
    }
    rcv.arrivals.length = 0;
    storeCalls.reset();
    const cpu0 = process.cpuUsage();
    const wall0 = Date.now();
    const t = await runPlan(call, 'bench-wide');
    await rcv.settled();
    const cpu = process.cpuUsage(cpu0);
    const runWall = Date.now() - wall0;
    const ops = storeCalls.n;
    const results = (await call('GET', `/tasks/${t.task_id}/run-task-results`)).run_task_results as ResultTimes[];
    const passed = results.filter((r) => r.stage === 'post_plan' && r.status === 'passed').length;
    if (passed !== wide) throw new Error(`the wide stage passed ${passed} of ${wide} run tasks`);
    const m = await markers(app, t.task_id, 'post_plan');
    const wall = t.stage_timings.post_plan as number;
    const prepared = m.end - wall;
    const posts = rcv.arrivals.map((a) => a.postAt);
    const lastCompleted = Math.max(...results.map((r) => Date.parse(r.completed_at)));
    console.log(`run tasks — one stage with ${wide} run tasks attached (${wide} definitions, one workspace, post_plan)`);
    console.log(`  stage wall time (stage_timings.post_plan)           ${ms(wall)}`);
    console.log(`    Prepare → first POST arrives                      ${ms(Math.min(...posts) - prepared)}`);
    console.log(`    first → last POST arrives                         ${ms(Math.max(...posts) - Math.min(...posts))}`);
    console.log(`    last POST → last result completed                 ${ms(lastCompleted - Math.max(...posts))}`);
    console.log(`    last result completed → stage END marker          ${ms(m.end - lastCompleted)}`);
    // The run's other store operations (its plan, the client's polling) are a few dozen: most are the stage's.
    console.log(`  the whole run: ${ms(runWall)} wall, ${ms((cpu.user + cpu.system) / 1000)} CPU in this process; ${ops} store operations (≈ ${(ops / wide).toFixed(1)} per run task)`);
    console.log(`  goal ≤ 1 s: ${wall <= 1000 ? 'met' : 'MISSED'}`);
  } finally {
    await rcv.close();
    await app.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  await benchRunTasks();
}
