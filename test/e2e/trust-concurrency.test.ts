/**
 * MAX_CONCURRENT_RUNS (seed 004's max_workers) and the system monitor (seed 004's monitor,
 * `GET /api/v1/system`). With a limit of 2, runs beyond it wait `pending` across workspaces; when
 * one ends, its own workspace's queue goes first, then the oldest waiting run elsewhere. Each run's
 * apply waits in a provisioner until the test creates its release file, so the test decides when
 * a run ends (no sleeps, no timing assumptions).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createWorkspace,
  startRunway,
  startTask,
  uniqueName,
  uploadConfig,
  waitForEnd,
  waitForStatus,
  waitUntil,
  type ApiClient,
  type TaskView,
  type TestRunway,
} from '../support/runway.js';
import { Viewer } from '../support/viewer.js';

const WAIT_FOR_RELEASE = {
  'main.tf': `
resource "terraform_data" "wait" {
  provisioner "local-exec" {
    command = "echo started; while [ ! -f \\"$RELEASE\\" ]; do sleep 0.1; done; echo released"
  }
}
`,
};

let rw: TestRunway;
let api: ApiClient;
let releaseDir: string;
const release = (ws: string) => writeFile(join(releaseDir, ws), 'go');

beforeAll(async () => {
  process.env.MAX_CONCURRENT_RUNS = '2';
  releaseDir = await mkdtemp(join(tmpdir(), 'runway-release-'));
  rw = await startRunway();
  api = rw.api;
});

afterAll(async () => {
  await rw?.stop();
  await rm(releaseDir, { recursive: true, force: true });
});

async function workspace(label: string): Promise<string> {
  const name = uniqueName(label);
  await createWorkspace(api, { name, auto_apply: true });
  await uploadConfig(api, name, WAIT_FOR_RELEASE);
  const v = await api.put(`/workspaces/${name}/variables/RELEASE`, { value: join(releaseDir, name), category: 'env' });
  expect(v.status).toBe(200);
  return name;
}

/** Waits until the run's apply is inside the provisioner (it printed "started"). */
const waitApplying = (taskId: number) =>
  waitUntil(async () => (((await api.get<string>(`/tasks/${taskId}/logs?type=apply&format=text`)).body as string).includes('(local-exec): started') ? true : undefined), `run ${taskId} applying`, 90_000);

const status = async (taskId: number) => (await api.get<TaskView>(`/tasks/${taskId}`)).body.status;

describe('MAX_CONCURRENT_RUNS=2', () => {
  it('queues runs beyond the limit across workspaces, own queue first, then the oldest; the monitor shows it', async () => {
    const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map(workspace));
    // Created one after another: a and b take the two run slots; c, then a's second run, then d wait.
    const runA = (await startTask(api, a, 'plan_and_apply')).task_id;
    const runB = (await startTask(api, b, 'plan_and_apply')).task_id;
    const runC = (await startTask(api, c, 'plan_and_apply')).task_id;
    const runA2 = (await startTask(api, a, 'plan_and_apply')).task_id;
    const runD = (await startTask(api, d, 'plan_and_apply')).task_id;
    await Promise.all([waitApplying(runA), waitApplying(runB)]);
    expect(await Promise.all([runA, runB, runC, runA2, runD].map(status))).toEqual(['running', 'running', 'pending', 'pending', 'pending']);

    // The monitor, with someone watching run A live.
    const viewer = await Viewer.open((await api.get('/meta')).body.websocket_url, rw.adminToken);
    viewer.subscribe(runA);
    await viewer.waitFor((m) => m.type === 'connected', 'connected');
    const system = await waitUntil(async () => {
      const s = (await api.get('/system')).body;
      return s.streams.viewers >= 1 ? s : undefined;
    }, 'the viewer in the monitor');
    expect(system).toMatchObject({
      runs: { active: 2, max_concurrent_runs: 2, apply_pending: [] },
      queue: { depth: 3, oldest_created_at: expect.any(String) },
      streams: { active: 1, viewers: 1 },
      process: {
        pid: process.pid,
        uptime_seconds: expect.any(Number),
        memory: { rss_bytes: expect.any(Number), heap_used_bytes: expect.any(Number) },
        cpu: { user_ms: expect.any(Number), system_ms: expect.any(Number) },
      },
    });
    expect(system.runs.running.map((r: { task_id: number }) => r.task_id).sort()).toEqual([runA, runB].sort());
    expect(system.runs.running.find((r: { task_id: number }) => r.task_id === runA)).toMatchObject({ workspace_id: expect.stringMatching(/^ws-/), stage: 'applying' });
    expect(system.process.memory.rss_bytes).toBeGreaterThan(10 * 1024 * 1024);
    await viewer.close();

    // b ends: its workspace has nothing queued, so the oldest waiting run elsewhere (c) starts; d waits.
    await release(b);
    expect(await waitForEnd(api, runB, 90_000)).toMatchObject({ status: 'success' });
    await waitApplying(runC);
    expect(await Promise.all([runA, runC, runA2, runD].map(status))).toEqual(['running', 'running', 'pending', 'pending']);

    // a ends: its own queue goes first (a's second run), though d is waiting too.
    await release(a);
    expect(await waitForEnd(api, runA, 90_000)).toMatchObject({ status: 'success' });
    await waitForStatus(api, runA2, ['running', 'success'], 60_000);

    // The rest run out as slots free up.
    await release(c);
    await release(d);
    const all = await Promise.all([runA, runB, runC, runA2, runD].map((id) => waitForEnd(api, id, 90_000)));
    expect(all.map((t) => t.status)).toEqual(['success', 'success', 'success', 'success', 'success']);

    // Never more than two at once: at every start, at most one other run was between its start and its end.
    const at = (s: string | null) => Date.parse(s!);
    for (const t of all) {
      const overlapping = all.filter((o) => o !== t && at(o.started_at) <= at(t.started_at) && at(o.completed_at) > at(t.started_at));
      expect({ task: t.task_id, others: overlapping.length <= 1 }).toEqual({ task: t.task_id, others: true });
    }
    // c started when b ended; a's second run when a ended, before d, which took the next free slot.
    const byId = Object.fromEntries(all.map((t) => [t.task_id, t]));
    expect(at(byId[runC].started_at)).toBeGreaterThanOrEqual(at(byId[runB].completed_at));
    expect(at(byId[runA2].started_at)).toBeGreaterThanOrEqual(at(byId[runA].completed_at));
    expect(at(byId[runA2].started_at)).toBeLessThan(at(byId[runD].started_at));
    expect(at(byId[runD].started_at)).toBeGreaterThanOrEqual(Math.min(at(byId[runC].completed_at), at(byId[runA2].completed_at)));

    const idle = (await api.get('/system')).body;
    expect(idle).toMatchObject({ runs: { active: 0, running: [] }, queue: { depth: 0, oldest_created_at: null } });
  });
});
