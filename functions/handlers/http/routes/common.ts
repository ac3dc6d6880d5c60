import type { Task, Workspace } from '../../../core/model.js';
import { notFound, unauthorized } from '../../../core/errors.js';
import { authorizeResultToken } from '../../../core/run-task-execution.js';
import { audit } from './audit.js';
import { getWorkspaceFor } from '../../../core/workspaces.js';
import { taskIdParam, type Request } from '../http.js';

export const workspaceOf = (req: Request): Promise<Workspace> => getWorkspaceFor(req.deps, req.principal, req.params.workspace_id);

/** The run named by :task_id (and :workspace_id when the path has one), if the caller may see it. */
export async function taskOf(req: Request): Promise<{ task: Task; ws: Workspace }> {
  const id = taskIdParam(req);
  if (req.runTaskBearer) return taskForRunTaskToken(req, id);
  const task = await req.deps.store.getTask(id);
  if (!task) throw notFound(`task ${id}`);
  if (req.params.workspace_id) {
    const ws = await workspaceOf(req);
    if (ws.workspace_id !== task.workspace_id) throw notFound(`task ${id}`);
    return { task, ws };
  }
  const ws = await getWorkspaceFor(req.deps, req.principal, task.workspace_id).catch(() => {
    throw notFound(`task ${id}`);
  });
  return { task, ws };
}

/** A run-task receiver reading its run's data with the access token it was sent (SPEC §5.3). */
async function taskForRunTaskToken(req: Request, id: number): Promise<{ task: Task; ws: Workspace }> {
  await authorizeResultToken(req.deps, req.runTaskBearer!, id);
  const task = await req.deps.store.getTask(id);
  const ws = task && (await req.deps.store.getWorkspace(task.workspace_id));
  if (!task || !ws || (req.params.workspace_id && req.params.workspace_id !== ws.workspace_id && req.params.workspace_id !== ws.name)) throw unauthorized('invalid token for this run');
  await audit(req, 'run_task.token_used', `tasks/${id}`, { path: req.event.rawPath });
  return { task, ws };
}
