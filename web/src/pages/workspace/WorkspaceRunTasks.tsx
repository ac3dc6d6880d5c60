/** The workspace's run tasks (seed 000 §5.3) and the configure dialog (§5.4). */
import { useState } from 'react';
import { api, enc } from '../../api';
import { Badge, Card, Empty, ErrorNotice, Field, FormDialog, Spinner } from '../../components/ui';
import { stageLabel } from '../../format';
import { useLoad, useSubmit } from '../../hooks';
import { useSession } from '../../session';
import { RUN_TASK_STAGES, type EnforcementLevel, type RunTask, type RunTaskStage, type Workspace, type WorkspaceRunTask } from '../../types';

export const STAGE_HELP: Record<RunTaskStage, string> = {
  pre_plan: 'Before Terraform generates the plan.',
  post_plan: 'After Terraform creates the plan.',
  pre_apply: 'Before Terraform applies the plan.',
  post_apply: 'After Terraform applies the plan.',
};
const LEVEL_HELP: Record<EnforcementLevel, string> = {
  advisory: 'Failed run tasks produce a warning.',
  mandatory: 'Failed run tasks stop the run.',
};

export const attachmentName = (a: WorkspaceRunTask) => a.run_task?.name ?? a.run_task_name ?? a.run_task_id ?? a.workspace_run_task_id;

export function WorkspaceRunTasks({ ws }: { ws: Workspace }) {
  const isAdmin = useSession().user.role === 'admin';
  const base = `/workspaces/${enc(ws.workspace_id)}/run-tasks`;
  const attached = useLoad(() => api.get<{ workspace_run_tasks: WorkspaceRunTask[] }>(base), [base]);
  // Definitions are listed for admins only; a member still sees the workspace's attachments.
  const defs = useLoad(
    () => (isAdmin ? api.get<{ run_tasks: RunTask[] }>('/run-tasks?page=1&page_size=100') : Promise.resolve({ run_tasks: [] as RunTask[] })).catch(() => ({ run_tasks: [] as RunTask[] })),
    [isAdmin],
  );
  const [editing, setEditing] = useState<WorkspaceRunTask | 'new' | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const globals = (defs.data?.run_tasks ?? []).filter((t) => t.is_global && t.enabled);

  const remove = async (a: WorkspaceRunTask) => {
    if (!confirm(`Remove ${attachmentName(a)} from ${ws.name}?`)) return;
    try {
      await api.delete(`${base}/${enc(a.workspace_run_task_id)}`);
      await attached.reload();
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <Card
      title="Run tasks"
      testId="workspace-run-tasks"
      actions={
        isAdmin && (
          <button type="button" className="btn btn-primary btn-sm" onClick={() => setEditing('new')}>
            + Add task
          </button>
        )
      }
    >
      <p className="muted">
        Configure run tasks for this workspace. Run tasks allow external services to pass or fail Terraform runs.{!isAdmin && ' Only an admin can change them.'}
      </p>
      <ErrorNotice error={attached.error ?? error} />
      {attached.loading && !attached.data ? (
        <Spinner />
      ) : !attached.data || attached.data.workspace_run_tasks.length === 0 ? (
        <Empty title="No run tasks attached">Add one to call an external service at a stage of every run.</Empty>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>Task name</th>
              <th>Stage</th>
              <th>Enforcement</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {attached.data.workspace_run_tasks.map((a) => (
              <tr key={a.workspace_run_task_id} data-testid={`attachment-${attachmentName(a)}`}>
                <td className="strong">{attachmentName(a)}</td>
                <td>{stageLabel(a.stage)}</td>
                <td>
                  <Badge tone={a.enforcement_level === 'mandatory' ? 'danger' : 'info'}>{a.enforcement_level === 'mandatory' ? 'Mandatory' : 'Advisory'}</Badge>
                </td>
                <td>{a.enabled ? <Badge tone="success">✓ Enabled</Badge> : <Badge>Disabled</Badge>}</td>
                <td className="right nowrap">
                  {isAdmin && (
                    <>
                      <button type="button" className="btn btn-sm btn-ghost" onClick={() => setEditing(a)}>
                        Edit
                      </button>
                      <button type="button" className="btn btn-sm btn-ghost danger" onClick={() => remove(a)}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {globals.length > 0 && (
        <div className="globals">
          <h3 className="subhead">Global run tasks (apply to every workspace)</h3>
          <ul className="plain-list">
            {globals.map((g) => (
              <li key={g.run_task_id}>
                <span className="strong">{g.name}</span> — {g.global_stage ? stageLabel(g.global_stage) : 'no stage'}, {g.global_enforcement_level ?? 'advisory'}
              </li>
            ))}
          </ul>
        </div>
      )}
      {editing && (
        <ConfigureDialog
          base={base}
          existing={editing === 'new' ? null : editing}
          definitions={defs.data?.run_tasks ?? []}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            void attached.reload();
          }}
        />
      )}
    </Card>
  );
}

function ConfigureDialog({ base, existing, definitions, onClose, onSaved }: { base: string; existing: WorkspaceRunTask | null; definitions: RunTask[]; onClose: () => void; onSaved: () => void }) {
  const [runTaskId, setRunTaskId] = useState(existing?.run_task?.run_task_id ?? existing?.run_task_id ?? definitions[0]?.run_task_id ?? '');
  const [stage, setStage] = useState<RunTaskStage>(existing?.stage ?? 'post_plan');
  const [level, setLevel] = useState<EnforcementLevel>(existing?.enforcement_level ?? 'advisory');
  const [enabled, setEnabled] = useState(existing?.enabled ?? true);

  const submit = useSubmit(async () => {
    if (existing) await api.put(`${base}/${enc(existing.workspace_run_task_id)}`, { stage, enforcement_level: level, enabled });
    else await api.post(base, { run_task_id: runTaskId, stage, enforcement_level: level, enabled });
    onSaved();
  });

  return (
    <FormDialog id="configure-run-task" title="Configure run task" onClose={onClose} submit={submit} submitLabel="Save" disabled={!runTaskId}>
      <Field label="Run task">
        {existing ? (
          <div className="strong">{attachmentName(existing)}</div>
        ) : definitions.length === 0 ? (
          <div className="muted">No run tasks are defined (an admin creates them under Run tasks).</div>
        ) : (
          <select aria-label="Run task" value={runTaskId} onChange={(e) => setRunTaskId(e.target.value)}>
            {definitions.map((d) => (
              <option key={d.run_task_id} value={d.run_task_id}>
                {d.name}
                {d.enabled ? '' : ' (disabled)'}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Run stage">
        <div className="radio-list">
          {RUN_TASK_STAGES.map((s) => (
            <label key={s} className={`radio-row${stage === s ? ' selected' : ''}`}>
              <input type="radio" name="stage" value={s} checked={stage === s} onChange={() => setStage(s)} />
              <span>
                <span className="radio-title">{stageLabel(s)}</span>
                <span className="radio-text">{STAGE_HELP[s]}</span>
              </span>
            </label>
          ))}
        </div>
      </Field>
      <Field label="Enforcement level">
        <div className="radio-list">
          {(['advisory', 'mandatory'] as const).map((l) => (
            <label key={l} className={`radio-row${level === l ? ' selected' : ''}`}>
              <input type="radio" name="level" value={l} checked={level === l} onChange={() => setLevel(l)} />
              <span>
                <span className="radio-title">{l === 'advisory' ? 'Advisory' : 'Mandatory'}</span>
                <span className="radio-text">{LEVEL_HELP[l]}</span>
              </span>
            </label>
          ))}
        </div>
      </Field>
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
      </label>
    </FormDialog>
  );
}
