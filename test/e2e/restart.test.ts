/**
 * A crash and a restart: the embedded default runs as its own process (as `npm start` runs it), is
 * killed with SIGKILL while a run is applying, and starts again on the same DATA_DIR. The run that
 * was in flight ends `errored`, its lock is freed, the queued run starts and succeeds, and what
 * was stored before the crash is all there.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnEmbedded, type EmbeddedProcess } from '../../local/process.js';
import { descendants, statFields } from '../support/processes.js';
import { apiClient, createWorkspace, startTask, uploadConfig, waitForEnd, waitForStatus, waitUntil, type ApiClient, type TaskView } from '../support/runway.js';

const ADMIN_TOKEN = `rwadmin_restart_${randomBytes(16).toString('hex')}`;

type Server = EmbeddedProcess;

const servers: Server[] = [];
let dataDir: string;

async function startServer(): Promise<Server> {
  const server = await spawnEmbedded({ dataDir, adminToken: ADMIN_TOKEN, detached: true });
  servers.push(server);
  return server;
}

/** Whether `pid` still runs (a zombie waiting to be reaped counts as gone). */
const alive = (pid: number) => {
  try {
    return statFields(`/proc/${pid}/stat`)[0] !== 'Z';
  } catch {
    return false;
  }
};

/**
 * A crash of the whole machine's worth of Runway: the server and every process it started die by
 * SIGKILL. The server is frozen first (SIGSTOP) so it cannot start a process while we list them;
 * runners live in their own process groups, so they are found as descendants, not by group.
 */
async function crash(server: Server): Promise<number[]> {
  const pid = server.child.pid!;
  if (server.child.exitCode !== null || server.child.signalCode !== null || !alive(pid)) return [];
  process.kill(pid, 'SIGSTOP');
  const children = descendants(pid);
  process.kill(pid, 'SIGKILL');
  for (const c of children) {
    try {
      process.kill(c, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await server.exited;
  return children;
}

const SLOW = {
  'main.tf': `
resource "terraform_data" "first" {
  input = "before the crash"
}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.first]
  provisioner "local-exec" {
    command = "sleep 30"
  }
}
`,
};

const FAST = {
  'main.tf': `
variable "greeting" {
  type = string
}

resource "terraform_data" "greeting" {
  input = var.greeting
}

output "greeting" {
  value = terraform_data.greeting.output
}
`,
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'runway-restart-'));
});

afterAll(async () => {
  for (const s of servers) await crash(s);
  await rm(dataDir, { recursive: true, force: true });
});

it('ends the in-flight run errored after a crash, frees the lock, runs the queue, keeps the data', async () => {
  const first = await startServer();
  let api: ApiClient = apiClient(first.url, ADMIN_TOKEN);

  const ws = await createWorkspace(api, { name: 'survivor', auto_apply: true, description: 'made before the crash' });
  expect((await api.put('/workspaces/survivor/variables/greeting', { value: 'hello from before', category: 'terraform' })).status).toBe(200);
  expect((await api.put('/workspaces/survivor/variables/TOKEN', { value: `s-${randomBytes(8).toString('hex')}`, category: 'env', sensitive: true })).status).toBe(200);
  const slow = await uploadConfig(api, 'survivor', SLOW);
  const fast = await uploadConfig(api, 'survivor', FAST);

  const inFlight = await startTask(api, 'survivor', 'plan_and_apply', { configuration_version_id: slow.configuration_version_id });
  const queued = await startTask(api, 'survivor', 'plan_and_apply', { configuration_version_id: fast.configuration_version_id });
  // terraform is inside the apply, in the provisioner's sleep
  await waitUntil(
    async () => {
      const res = await api.get<string>(`/tasks/${inFlight.task_id}/logs?type=apply&format=text`);
      return res.body.includes('terraform_data.slow: Creating...') ? true : undefined;
    },
    'the in-flight run to be applying',
    60_000,
  );
  expect((await api.get<TaskView>(`/tasks/${inFlight.task_id}`)).body).toMatchObject({ status: 'running', stage: 'applying' });
  expect((await api.get<TaskView>(`/tasks/${queued.task_id}`)).body.status).toBe('pending');

  const killed = await crash(first);
  expect(killed.length).toBeGreaterThan(0); // the runner (and terraform) died with the server
  await waitUntil(async () => (killed.every((p) => !alive(p)) ? true : undefined), 'the killed processes to be gone', 10_000);

  const second = await startServer();
  api = apiClient(second.url, ADMIN_TOKEN);

  const errored = (await api.get<TaskView>(`/tasks/${inFlight.task_id}`)).body;
  expect(errored.status).toBe('errored');
  expect(errored.error_message).toMatch(/Runway stopped while this run was in flight/);
  expect(errored.completed_at).not.toBeNull();
  expect((await api.get<string>(`/tasks/${inFlight.task_id}/logs?format=text`)).body).toContain('Runway stopped while this run was in flight');

  const done = await waitForEnd(api, queued.task_id, 90_000);
  expect(done.status).toBe('success');
  expect(Date.parse(done.started_at!)).toBeGreaterThanOrEqual(Date.parse(errored.completed_at!));

  // what was stored before the crash is still there, and the queued run used it
  const wsView = (await api.get('/workspaces/survivor')).body;
  expect(wsView).toMatchObject({ workspace_id: ws.workspace_id, description: 'made before the crash', auto_apply: true, locked_by_task: null });
  const vars = (await api.get('/workspaces/survivor/variables')).body.variables;
  expect(vars).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ key: 'greeting', value: 'hello from before', sensitive: false }),
      expect.objectContaining({ key: 'TOKEN', value: null, sensitive: true }),
    ]),
  );
  const state = (await api.get('/workspaces/survivor/state')).body;
  expect(state.outputs.greeting.value).toBe('hello from before');
  expect(state.task_id).toBe(queued.task_id);
  const list = (await api.get('/workspaces/survivor/tasks')).body;
  expect(list.tasks.map((t: { id: number; status: string }) => [t.id, t.status])).toEqual([
    [queued.task_id, 'success'],
    [inFlight.task_id, 'errored'],
  ]);

  // a new run after the restart works as any other
  const after = await startTask(api, 'survivor', 'plan');
  expect((await waitForStatus(api, after.task_id, ['success', 'failed', 'errored'], 60_000)).status).toBe('success');

  // a clean stop: SIGTERM, exit 0
  second.child.kill('SIGTERM');
  await second.exited;
  expect(second.child.exitCode).toBe(0);
});
