import type { Task, Workspace } from '../../../core/model.js';
import { notFound } from '../../../core/errors.js';
import { getWorkspaceFor } from '../../../core/workspaces.js';
import { taskIdParam, type Request } from '../http.js';

export const workspaceOf = (req: Request): Promise<Workspace> => getWorkspaceFor(req.deps, req.principal, req.params.workspace_id);

/** The run named by :task_id (and :workspace_id when the path has one), if the caller may see it. */
export async function taskOf(req: Request): Promise<{ task: Task; ws: Workspace }> {
  const id = taskIdParam(req);
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
