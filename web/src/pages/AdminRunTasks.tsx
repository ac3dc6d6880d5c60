/** Admin: run task definitions (seed 000 §5.1–5.2): list, create, edit, verify, delete. */
import { useState } from 'react';
import { api, ApiError, enc } from '../api';
import { KeyIcon } from '../components/icons';
import { Badge, Card, Empty, ErrorNotice, Field, FormDialog, Notice, Spinner } from '../components/ui';
import { stageLabel } from '../format';
import { useLoad, useSubmit } from '../hooks';
import { RUN_TASK_STAGES, type EnforcementLevel, type RunTask, type RunTaskStage } from '../types';

const NAME = /^[a-zA-Z0-9_-]+$/;
const PAGE_SIZE = 20;

interface ListAnswer {
  run_tasks: RunTask[];
  pagination?: { page: number; page_size: number; total: number };
}

interface VerifyAnswer {
  ok?: boolean;
  success?: boolean;
  status_code?: number | null;
  status?: number | string | null;
  message?: string;
  reason?: string | null;
  error?: string | null;
  duration_ms?: number;
  response_time_ms?: number;
  [k: string]: unknown;
}

export function AdminRunTasksPage() {
  const [page, setPage] = useState(1);
  const list = useLoad(() => api.get<ListAnswer>(`/run-tasks?page=${page}&page_size=${PAGE_SIZE}`), [page]);
  const [editing, setEditing] = useState<RunTask | 'new' | null>(null);
  const [verifying, setVerifying] = useState<Record<string, VerifyAnswer | 'busy' | Error>>({});
  const [error, setError] = useState<Error | null>(null);
  const total = list.data?.pagination?.total ?? list.data?.run_tasks.length ?? 0;

  const verify = async (t: RunTask) => {
    setVerifying((v) => ({ ...v, [t.run_task_id]: 'busy' }));
    try {
      const answer = await api.post<VerifyAnswer>(`/run-tasks/${enc(t.run_task_id)}/verify`);
      setVerifying((v) => ({ ...v, [t.run_task_id]: answer }));
    } catch (err) {
      setVerifying((v) => ({ ...v, [t.run_task_id]: err as Error }));
    }
  };

  const remove = async (t: RunTask) => {
    if (!confirm(`Delete run task ${t.name}?`)) return;
    setError(null);
    try {
      await api.delete(`/run-tasks/${enc(t.run_task_id)}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) return setError(err as Error);
      if (!confirm(`${err.message}\n\nDelete it anyway and detach it from every workspace?`)) return;
      try {
        await api.delete(`/run-tasks/${enc(t.run_task_id)}?force=true`);
      } catch (err2) {
        return setError(err2 as Error);
      }
    }
    await list.reload();
  };

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>Run tasks</h1>
          <p className="page-subtitle">External services called at a stage of a run that may pass or fail it. Attach them to workspaces in each workspace's settings.</p>
        </div>
        <button type="button" className="btn btn-primary" onClick={() => setEditing('new')}>
          + Create
        </button>
      </div>
      <ErrorNotice error={list.error ?? error} />
      <Card>
        {list.loading && !list.data ? (
          <Spinner label="Loading run tasks…" />
        ) : !list.data || list.data.run_tasks.length === 0 ? (
          <Empty title="No run tasks yet">Create one with the endpoint Runway should call.</Empty>
        ) : (
          <table className="table" data-testid="run-tasks-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Endpoint URL</th>
                <th>Workspaces</th>
                <th>HMAC key</th>
                <th>Status</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.data.run_tasks.map((t) => {
                const v = verifying[t.run_task_id];
                return (
                  <tr key={t.run_task_id} data-testid={`run-task-${t.name}`}>
                    <td>
                      <div className="strong">{t.name}</div>
                      <div className="muted small">{t.description || t.run_task_id}</div>
                      {t.is_global && (
                        <Badge tone="accent" title="Applies to every workspace">
                          Global · {t.global_stage ? stageLabel(t.global_stage) : '—'} · {t.global_enforcement_level ?? 'advisory'}
                        </Badge>
                      )}
                    </td>
                    <td>
                      <code className="ellipsis endpoint">{t.endpoint_url}</code>
                      <div className="muted small">timeout {t.timeout_seconds}s</div>
                    </td>
                    <td className="num">{t.workspace_count ?? '—'}</td>
                    <td>{t.hmac_key_set ? <span className="inline" title="Fingerprint: first 8 hex of the key's SHA-256">
                          <KeyIcon /> <code>{t.hmac_key_fingerprint ?? 'set'}</code>
                        </span> : <span className="muted">none</span>}</td>
                    <td>{t.enabled ? <Badge tone="success">✓ Enabled</Badge> : <Badge tone="neutral">✗ Disabled</Badge>}</td>
                    <td className="right nowrap">
                      <button type="button" className="btn btn-sm" onClick={() => verify(t)} disabled={v === 'busy'}>
                        {v === 'busy' ? 'Verifying…' : 'Verify'}
                      </button>
                      <button type="button" className="btn btn-sm btn-ghost" onClick={() => setEditing(t)}>
                        Edit
                      </button>
                      <button type="button" className="btn btn-sm btn-ghost danger" onClick={() => remove(t)}>
                        Delete
                      </button>
                      {v && v !== 'busy' && <VerifyResult v={v} />}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {total > PAGE_SIZE && (
          <div className="pager">
            <button type="button" className="btn btn-sm" disabled={page === 1} onClick={() => setPage(page - 1)}>
              ← Previous
            </button>
            <span className="muted small">
              Page {page} of {Math.ceil(total / PAGE_SIZE)}
            </span>
            <button type="button" className="btn btn-sm" disabled={page * PAGE_SIZE >= total} onClick={() => setPage(page + 1)}>
              Next →
            </button>
          </div>
        )}
      </Card>
      {editing && (
        <RunTaskDialog
          existing={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            void list.reload();
          }}
        />
      )}
    </div>
  );
}

function VerifyResult({ v }: { v: VerifyAnswer | Error }) {
  if (v instanceof Error) return <div className="verify verify-bad" data-testid="verify-result">✗ {v.message}</div>;
  const code = typeof v.status_code === 'number' ? v.status_code : typeof v.status === 'number' ? v.status : null;
  const ok = v.ok ?? v.success ?? (code !== null && code >= 200 && code < 300);
  const why = v.reason ?? v.error ?? v.message ?? '';
  return (
    <div className={`verify ${ok ? 'verify-ok' : 'verify-bad'}`} data-testid="verify-result">
      {ok ? '✓ Verified' : '✗ Verification failed'}
      {code !== null && ` · HTTP ${code}`}
      {typeof (v.response_time_ms ?? v.duration_ms) === 'number' && ` · ${v.response_time_ms ?? v.duration_ms} ms`}
      {why && <div className="small">{why}</div>}
    </div>
  );
}

function RunTaskDialog({ existing, onClose, onSaved }: { existing: RunTask | null; onClose: () => void; onSaved: () => void }) {
  const [name, setName] = useState(existing?.name ?? '');
  const [description, setDescription] = useState(existing?.description ?? '');
  const [endpoint, setEndpoint] = useState(existing?.endpoint_url ?? '');
  const [hmacKey, setHmacKey] = useState('');
  const [removeKey, setRemoveKey] = useState(false);
  const [timeout, setTimeoutSeconds] = useState(String(existing?.timeout_seconds ?? 600));
  const [enabled, setEnabled] = useState(existing?.enabled ?? true);
  const [isGlobal, setIsGlobal] = useState(existing?.is_global ?? false);
  const [globalStage, setGlobalStage] = useState<RunTaskStage>(existing?.global_stage ?? 'post_plan');
  const [globalLevel, setGlobalLevel] = useState<EnforcementLevel>(existing?.global_enforcement_level ?? 'advisory');

  const nameError = name && (!NAME.test(name) || name.length > 100) ? 'Can only contain letters, numbers, dashes and underscores.' : null;
  const endpointError = endpoint && !/^https?:\/\/\S+$/i.test(endpoint) ? 'Must be an http:// or https:// URL.' : null;
  const t = Number(timeout);
  const timeoutError = !Number.isInteger(t) || t < 60 || t > 3600 ? 'Between 60 and 3600 seconds.' : null;

  const submit = useSubmit(async () => {
    const body: Record<string, unknown> = {
      description,
      endpoint_url: endpoint,
      enabled,
      timeout_seconds: t,
      is_global: isGlobal,
      global_stage: isGlobal ? globalStage : null,
      global_enforcement_level: isGlobal ? globalLevel : null,
    };
    if (!existing || name !== existing.name) body.name = name;
    // Write-only: sent only when typed (or removed); the form never shows the stored key.
    if (hmacKey) body.hmac_key = hmacKey;
    else if (removeKey) body.hmac_key = null;
    if (existing) await api.put(`/run-tasks/${enc(existing.run_task_id)}`, body);
    else await api.post('/run-tasks', body);
    onSaved();
  });

  return (
    <FormDialog
      id="run-task-form"
      title={existing ? `Edit run task ${existing.name}` : 'Create a run task'}
      onClose={onClose}
      wide
      submit={submit}
      submitLabel={existing ? 'Save' : 'Create'}
      disabled={!name || !endpoint || !!nameError || !!endpointError || !!timeoutError}
    >
      {!existing && <p className="muted">Create a run task that workspaces can attach to a stage of their runs.</p>}
      <Field label="Name *" hint="Can only contain letters, numbers, dashes and underscores." error={nameError} htmlFor="rt-name">
        <input id="rt-name" name="name" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. Example" required />
      </Field>
      <Field label="Description (optional)" htmlFor="rt-description">
        <input id="rt-description" name="description" value={description} onChange={(e) => setDescription(e.target.value)} placeholder="e.g. A description looks like this" />
      </Field>
      <Field label="Endpoint URL *" hint="Run tasks will POST to this URL." error={endpointError} htmlFor="rt-endpoint">
        <input id="rt-endpoint" name="endpoint_url" value={endpoint} onChange={(e) => setEndpoint(e.target.value)} placeholder="https://www.example.io/..." required />
      </Field>
      <Field
        label="HMAC key (optional)"
        hint={existing?.hmac_key_set ? `A key is set (fingerprint ${existing.hmac_key_fingerprint ?? 'unknown'}). Type a new one to replace it; leave empty to keep it.` : 'A secret key that may be required by the service to verify request authenticity.'}
        htmlFor="rt-hmac"
      >
        <input id="rt-hmac" name="hmac_key" type="password" autoComplete="new-password" value={hmacKey} onChange={(e) => setHmacKey(e.target.value)} placeholder="sensitive - write only" />
      </Field>
      {existing?.hmac_key_set && (
        <label className="check">
          <input type="checkbox" checked={removeKey} disabled={!!hmacKey} onChange={(e) => setRemoveKey(e.target.checked)} /> Remove the HMAC key
        </label>
      )}
      <div className="form-row">
        <Field label="Timeout (seconds)" hint="60–3600; a result with no progress for this long times out." error={timeoutError} htmlFor="rt-timeout">
          <input id="rt-timeout" name="timeout_seconds" type="number" min={60} max={3600} value={timeout} onChange={(e) => setTimeoutSeconds(e.target.value)} />
        </Field>
        <Field label="Status">
          <label className="check">
            <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
          </label>
        </Field>
      </div>
      <fieldset className="fieldset">
        <legend>
          <label className="check">
            <input type="checkbox" name="is_global" checked={isGlobal} onChange={(e) => setIsGlobal(e.target.checked)} /> Global: run in every workspace
          </label>
        </legend>
        {isGlobal && (
          <div className="form-row">
            <Field label="Stage">
              <select aria-label="Global stage" value={globalStage} onChange={(e) => setGlobalStage(e.target.value as RunTaskStage)}>
                {RUN_TASK_STAGES.map((s) => (
                  <option key={s} value={s}>
                    {stageLabel(s)}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Enforcement level">
              <select aria-label="Global enforcement level" value={globalLevel} onChange={(e) => setGlobalLevel(e.target.value as EnforcementLevel)}>
                <option value="advisory">Advisory</option>
                <option value="mandatory">Mandatory</option>
              </select>
            </Field>
          </div>
        )}
      </fieldset>
      {!existing && <Notice tone="info">Creating a run task sends no traffic. Use Verify afterwards to send the test payload.</Notice>}
    </FormDialog>
  );
}
