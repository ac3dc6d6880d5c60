/** Runs (tasks), their logs, plans and artifacts (SPEC §4, §6, §7). */
import { artifactView, readArtifact, readArtifactOfKind } from '../../../core/artifacts.js';
import { notFound } from '../../../core/errors.js';
import { logsDownload, logsJson, logsText, type LogType } from '../../../core/logs.js';
import { confirmTaskInput, createTaskInput, TASK_STATUSES, TASK_TYPES } from '../../../core/model.js';
import type { PlanJson } from '../../../core/plan.js';
import * as tasks from '../../../core/tasks.js';
import { binary, enumQuery, intQuery, json, route, text } from '../http.js';
import { taskOf, workspaceOf } from './common.js';

export const create = route(async (req) => {
  const ws = await workspaceOf(req);
  const task = await tasks.createTask(req.deps, req.principal, ws, req.json(createTaskInput));
  return json(201, tasks.taskView(task));
}, { audit: 'task.create' });

export const list = route(async (req) => {
  const ws = await workspaceOf(req);
  const status = enumQuery(req, 'status', TASK_STATUSES);
  const taskType = enumQuery(req, 'task_type', TASK_TYPES);
  const limit = intQuery(req, 'limit', 20, 1, 100);
  const offset = intQuery(req, 'offset', 0, 0, 1_000_000);
  const all = await req.deps.store.listTasks(ws.workspace_id, { status, task_type: taskType });
  return json(200, { tasks: all.slice(offset, offset + limit).map(tasks.taskListItem), total: all.length, limit, offset });
});

export const get = route(async (req) => json(200, tasks.taskView((await taskOf(req)).task)));

export const confirm = route(async (req) => {
  const { task, ws } = await taskOf(req);
  const input = req.body().length ? req.json(confirmTaskInput) : {};
  return json(200, tasks.taskView(await tasks.confirmTask(req.deps, req.principal, task, ws, input)));
}, { audit: 'task.confirm' });

export const discard = route(async (req) => {
  const { task } = await taskOf(req);
  return json(200, tasks.taskView(await tasks.discardTask(req.deps, req.principal, task)));
}, { audit: 'task.discard' });

export const cancel = route(async (req) => {
  const { task } = await taskOf(req);
  const force = enumQuery(req, 'force', ['true', 'false'] as const, 'false') === 'true';
  return json(200, tasks.taskView(await tasks.cancelTask(req.deps, req.principal, task, force)));
}, { audit: 'task.cancel' });

async function planJson(req: Parameters<Parameters<typeof route>[0]>[0]): Promise<PlanJson & Record<string, unknown>> {
  const { task } = await taskOf(req);
  const body = await readArtifactOfKind(req.deps, task.task_id, 'plan_json').catch((err) => {
    throw (err as { status?: number }).status === 404 ? notFound(`plan of task ${task.task_id} (the run has not finished planning)`) : err;
  });
  return JSON.parse(body.toString('utf8'));
}

export const planJsonRoute = route(async (req) => json(200, await planJson(req)), { runTaskToken: true });

export const resourceChanges = route(async (req) => {
  const plan = await planJson(req);
  const { task } = await taskOf(req);
  return json(200, { resource_changes: plan.resource_changes ?? [], plan_changes: task.plan_changes });
}, { runTaskToken: true });

const LOG_TYPES = ['plan', 'apply', 'all'] as const;

export const logs = route(async (req) => {
  const { task } = await taskOf(req);
  const type = enumQuery(req, 'type', LOG_TYPES, 'all') as LogType;
  const format = enumQuery(req, 'format', ['json', 'text'] as const, 'json');
  if (format === 'text') return text(await logsText(req.deps.store, task, type));
  return json(200, await logsJson(req.deps.store, task, type));
});

export const logsDownloadRoute = route(async (req) => {
  const { task } = await taskOf(req);
  const type = enumQuery(req, 'type', LOG_TYPES, 'all') as LogType;
  return binary(Buffer.from(await logsDownload(req.deps.store, task, type)), {
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename="task-${task.task_id}-logs.txt"`,
  });
});

export const artifacts = route(async (req) => {
  const { task } = await taskOf(req);
  return json(200, { artifacts: (await req.deps.store.listArtifacts(task.task_id)).map(artifactView) });
});

export const downloadArtifact = route(async (req) => {
  const a = await req.deps.store.getArtifact(req.params.artifact_id);
  if (!a) throw notFound(`artifact ${req.params.artifact_id}`);
  // Visible only to those who may see the run.
  await taskOf({ ...req, params: { task_id: String(a.task_id) } });
  const body = await readArtifact(req.deps, a);
  return binary(body, {
    'content-type': a.kind === 'plan_json' || a.kind.startsWith('state') ? 'application/json' : 'application/octet-stream',
    'content-disposition': `attachment; filename="${a.artifact_id}"`,
    'x-checksum-sha256': a.sha256,
  });
});
