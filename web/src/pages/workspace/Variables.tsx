/** Workspace variables: terraform and env; sensitive values are write-only and shown as set. */
import { useState } from 'react';
import { api, enc } from '../../api';
import { LockIcon } from '../../components/icons';
import { Badge, Card, Empty, ErrorNotice, Field, Spinner } from '../../components/ui';
import { timeAgo } from '../../format';
import { useLoad, useSubmit } from '../../hooks';
import type { Variable, Workspace } from '../../types';

const KEY = /^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/;

export function VariablesTab({ ws }: { ws: Workspace }) {
  const vars = useLoad(() => api.get<{ variables: Variable[] }>(`/workspaces/${enc(ws.workspace_id)}/variables`), [ws.workspace_id]);
  const [editing, setEditing] = useState<Variable | null>(null);
  const [error, setError] = useState<Error | null>(null);

  const remove = async (v: Variable) => {
    if (!confirm(`Delete variable ${v.key}?`)) return;
    try {
      await api.delete(`/workspaces/${enc(ws.workspace_id)}/variables/${enc(v.key)}`);
      await vars.reload();
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <div className="grid-2-1">
      <Card title="Variables">
        <ErrorNotice error={vars.error ?? error} />
        {vars.loading && !vars.data ? (
          <Spinner />
        ) : !vars.data || vars.data.variables.length === 0 ? (
          <Empty title="No variables">Terraform variables become -var values; env variables are set in the run's environment.</Empty>
        ) : (
          <table className="table" data-testid="variables-table">
            <thead>
              <tr>
                <th>Key</th>
                <th>Value</th>
                <th>Category</th>
                <th>Updated</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {vars.data.variables.map((v) => (
                <tr key={v.key} data-testid={`variable-${v.key}`}>
                  <td>
                    <code className="strong">{v.key}</code> {v.hcl && <Badge>HCL</Badge>}
                    {v.description && <div className="muted small">{v.description}</div>}
                  </td>
                  <td>
                    {v.sensitive ? (
                      <span className="sensitive inline" title="Sensitive: write-only, never shown">
                        <LockIcon /> Sensitive — set
                      </span>
                    ) : (
                      <code className="ellipsis var-value">{v.value}</code>
                    )}
                  </td>
                  <td>
                    <Badge tone={v.category === 'env' ? 'accent' : 'neutral'}>{v.category}</Badge>
                  </td>
                  <td className="muted small">{timeAgo(v.updated_at)}</td>
                  <td className="right nowrap">
                    <button type="button" className="btn btn-sm btn-ghost" onClick={() => setEditing(v)}>
                      Edit
                    </button>
                    <button type="button" className="btn btn-sm btn-ghost danger" onClick={() => remove(v)}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <VariableForm key={editing?.key ?? 'new'} ws={ws} editing={editing} onDone={() => { setEditing(null); void vars.reload(); }} />
    </div>
  );
}

function VariableForm({ ws, editing, onDone }: { ws: Workspace; editing: Variable | null; onDone: () => void }) {
  const [key, setKey] = useState(editing?.key ?? '');
  const [value, setValue] = useState(editing && !editing.sensitive ? (editing.value ?? '') : '');
  const [category, setCategory] = useState<'terraform' | 'env'>(editing?.category ?? 'terraform');
  const [sensitive, setSensitive] = useState(editing?.sensitive ?? false);
  const [hcl, setHcl] = useState(editing?.hcl ?? false);
  const keyError = key && !KEY.test(key) ? 'Start with a letter or _, then letters, digits or _.' : null;

  const { busy, error, onSubmit } = useSubmit(async () => {
    await api.put(`/workspaces/${enc(ws.workspace_id)}/variables/${enc(key)}`, { value, category, sensitive, hcl });
    setKey('');
    setValue('');
    setSensitive(false);
    setHcl(false);
    onDone();
  });

  return (
    <Card title={editing ? `Edit ${editing.key}` : 'Add variable'}>
      <form className="form" onSubmit={onSubmit} data-testid="variable-form">
        <Field label="Key" error={keyError} htmlFor="var-key">
          <input id="var-key" value={key} onChange={(e) => setKey(e.target.value)} disabled={!!editing} placeholder="e.g. region" required />
        </Field>
        <Field label="Value" hint={editing?.sensitive ? 'Sensitive: enter a new value to replace it.' : undefined} htmlFor="var-value">
          <textarea id="var-value" rows={3} value={value} onChange={(e) => setValue(e.target.value)} className="mono" />
        </Field>
        <Field label="Category">
          <select value={category} onChange={(e) => setCategory(e.target.value as 'terraform' | 'env')} aria-label="Category">
            <option value="terraform">Terraform variable</option>
            <option value="env">Environment variable</option>
          </select>
        </Field>
        <label className="check">
          <input type="checkbox" checked={hcl} onChange={(e) => setHcl(e.target.checked)} /> HCL value
        </label>
        <label className="check">
          <input type="checkbox" name="sensitive" checked={sensitive} disabled={editing?.sensitive} onChange={(e) => setSensitive(e.target.checked)} /> Sensitive (write-only; masked in logs)
        </label>
        <ErrorNotice error={error} />
        <div className="form-actions">
          {editing && (
            <button type="button" className="btn" onClick={onDone}>
              Cancel
            </button>
          )}
          <button type="submit" className="btn btn-primary" disabled={busy || !key || !!keyError}>
            {editing ? 'Save variable' : 'Add variable'}
          </button>
        </div>
      </form>
    </Card>
  );
}
