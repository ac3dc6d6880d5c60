/** Run tasks (SPEC §5): definitions (admin), workspace attachments, results, callbacks, verify. */
import { requireAdmin } from '../../../core/auth.js';
import { badRequest, notFound, tooLarge, unauthorized } from '../../../core/errors.js';
import { sha256 } from '../../../core/ids.js';
import { attachRunTaskInput, createRunTaskInput, updateAttachmentInput, updateRunTaskInput } from '../../../core/model.js';
import { authorizeResultToken, handleCallback, resultsView, verifyRunTask } from '../../../core/run-task-execution.js';
import * as runTasks from '../../../core/run-tasks.js';
import { configurationBlobKey, getWorkspaceFor } from '../../../core/workspaces.js';
import { binary, enumQuery, intQuery, json, route } from '../http.js';
import { audit } from './audit.js';
import { taskOf, workspaceOf } from './common.js';

const noContent = () => ({ statusCode: 204, headers: {}, body: '' });

export const create = route(async (req) => {
  requireAdmin(req.principal);
  const rt = await runTasks.createRunTask(req.deps, req.principal, req.json(createRunTaskInput));
  return json(201, runTasks.runTaskView(rt, 0));
}, { audit: 'run_task.create' });

export const list = route(async (req) => {
  requireAdmin(req.principal);
  const page = intQuery(req, 'page', 1, 1, 100_000);
  const pageSize = intQuery(req, 'page_size', 20, 1, 100);
  let all = await req.deps.store.listRunTasks();
  if (req.query.organization_id) all = all.filter((rt) => rt.organization_id === req.query.organization_id);
  const slice = all.slice((page - 1) * pageSize, page * pageSize);
  const views = await Promise.all(slice.map(async (rt) => runTasks.runTaskView(rt, (await req.deps.store.listAttachmentsOfRunTask(rt.run_task_id)).length)));
  return json(200, { run_tasks: views, pagination: { page, page_size: pageSize, total: all.length } });
});

export const get = route(async (req) => {
  requireAdmin(req.principal);
  const rt = await runTasks.getRunTask(req.deps, req.params.run_task_id);
  return json(200, runTasks.runTaskView(rt, (await req.deps.store.listAttachmentsOfRunTask(rt.run_task_id)).length));
});

export const update = route(async (req) => {
  requireAdmin(req.principal);
  const rt = await runTasks.getRunTask(req.deps, req.params.run_task_id);
  const input = req.json(updateRunTaskInput);
  const next = await runTasks.updateRunTask(req.deps, rt, input);
  return json(200, runTasks.runTaskView(next, (await req.deps.store.listAttachmentsOfRunTask(rt.run_task_id)).length));
}, { audit: 'run_task.update' });

export const remove = route(async (req) => {
  requireAdmin(req.principal);
  const rt = await runTasks.getRunTask(req.deps, req.params.run_task_id);
  const force = enumQuery(req, 'force', ['true', 'false'] as const, 'false') === 'true';
  await runTasks.deleteRunTask(req.deps, rt, force);
  return noContent();
}, { audit: 'run_task.delete' });

export const verify = route(async (req) => {
  requireAdmin(req.principal);
  const rt = await runTasks.getRunTask(req.deps, req.params.run_task_id);
  const report = await verifyRunTask(req.deps, rt);
  return json(200, report);
}, { audit: 'run_task.verify' });

// ---------- workspace attachments ----------

export const attach = route(async (req) => {
  requireAdmin(req.principal);
  const ws = await workspaceOf(req);
  const a = await runTasks.attachRunTask(req.deps, req.principal, ws, req.json(attachRunTaskInput));
  return json(201, await runTasks.attachmentView(req.deps, a));
}, { audit: 'workspace_run_task.create' });

export const listAttachments = route(async (req) => {
  const ws = await workspaceOf(req);
  const all = await req.deps.store.listAttachments(ws.workspace_id);
  return json(200, { workspace_run_tasks: await Promise.all(all.map((a) => runTasks.attachmentView(req.deps, a))) });
});

export const updateAttachment = route(async (req) => {
  requireAdmin(req.principal);
  const ws = await workspaceOf(req);
  const a = await runTasks.getAttachment(req.deps, ws, req.params.workspace_run_task_id);
  const next = await runTasks.updateAttachment(req.deps, a, req.json(updateAttachmentInput));
  return json(200, await runTasks.attachmentView(req.deps, next));
}, { audit: 'workspace_run_task.update' });

export const detach = route(async (req) => {
  requireAdmin(req.principal);
  const ws = await workspaceOf(req);
  const a = await runTasks.getAttachment(req.deps, ws, req.params.workspace_run_task_id);
  await req.deps.store.deleteAttachment(a);
  return noContent();
}, { audit: 'workspace_run_task.delete' });

// ---------- results and callbacks ----------

export const results = route(async (req) => {
  const { task } = await taskOf(req);
  return json(200, { task_id: task.task_id, ...(await resultsView(req.deps, task.task_id)) });
});

export const callback = route(
  async (req) => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.header('authorization') ?? '')?.[1];
    const b = req.body();
    if (b.length > req.deps.settings.maxJsonBytes) throw tooLarge(`callback body is ${b.length} bytes; the limit is ${req.deps.settings.maxJsonBytes}`);
    let raw: unknown;
    try {
      raw = JSON.parse(b.toString('utf8'));
    } catch {
      throw badRequest('body: not valid JSON', 'invalid_json');
    }
    const result = await handleCallback(req.deps, req.params.result_id, bearer, raw);
    await req.deps.audit?.append({ actor: `run-task:${result.run_task_name}`, action: 'run_task_result.callback', resource: `run-task-results/${result.result_id}`, details: { status: result.status, task_id: result.task_id } });
    return json(200, { result_id: result.result_id, status: result.status, message: result.message, url: result.url, outcomes_count: result.outcomes_count });
  },
  { public: true },
);

/** The configuration of a run, as a .tar.gz: for users who see the workspace, or a receiver's open token. */
export const downloadConfiguration = route(
  async (req) => {
    const cv = await req.deps.store.getConfigurationVersion(req.params.configuration_version_id);
    if (req.runTaskBearer) {
      const resultId = await req.deps.store.getResultIdByTokenHash(sha256(req.runTaskBearer));
      const result = resultId ? await req.deps.store.getResult(resultId) : null;
      const task = result ? await req.deps.store.getTask(result.task_id) : null;
      if (!cv || !task || task.configuration_version_id !== cv.configuration_version_id) throw unauthorized('invalid token for this configuration version');
      await authorizeResultToken(req.deps, req.runTaskBearer, task.task_id);
      await audit(req, 'run_task.token_used', `tasks/${task.task_id}`, { path: req.event.rawPath });
    } else {
      if (!cv) throw notFound(`configuration version ${req.params.configuration_version_id}`);
      await getWorkspaceFor(req.deps, req.principal, cv.workspace_id);
    }
    const body = await req.deps.blobs.get(configurationBlobKey(cv!));
    if (!body) throw notFound(`configuration version ${cv!.configuration_version_id} content`);
    return binary(body, { 'content-type': 'application/gzip', 'content-disposition': `attachment; filename="${cv!.configuration_version_id}.tar.gz"` });
  },
  { runTaskToken: true },
);

export const metrics = route(async (req) => {
  requireAdmin(req.principal);
  return json(200, { metrics: req.deps.metrics.snapshot?.() ?? null });
});
