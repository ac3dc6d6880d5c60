/**
 * Run-task results of a run, grouped by stage (seed 000 §5.5): status icon, name, enforcement
 * level, message, details link, and the outcomes (tags by level, sanitized Markdown body).
 */
import { useState } from 'react';
import { formatDuration, safeHref, stageLabel } from '../format';
import { RUN_TASK_STAGES, type Outcome, type ResultStatus, type RunTaskResult, type TagLevel } from '../types';
import { Glyph, type GlyphName } from './icons';
import { Markdown } from './Markdown';
import { Badge, Card } from './ui';

const ICONS: Record<ResultStatus, GlyphName> = { pending: 'dot', running: 'spinner', passed: 'check', failed: 'cross', error: 'alert', timeout: 'clock' };
const LABELS: Record<ResultStatus, string> = { pending: 'Pending', running: 'Running', passed: 'Passed', failed: 'Failed', error: 'Errored', timeout: 'Timed out' };

const resultName = (r: RunTaskResult) => r.run_task?.name ?? r.run_task_name ?? r.run_task_id ?? r.result_id;

/** Accepts the list form (seed 000 §3.3.1) or results already grouped by stage. */
export function normalizeResults(body: unknown): RunTaskResult[] {
  const b = body as Record<string, unknown> | null;
  if (!b) return [];
  if (Array.isArray(b.run_task_results)) return b.run_task_results as RunTaskResult[];
  if (Array.isArray(b.results)) return b.results as RunTaskResult[];
  const grouped = (b.stages ?? b.run_task_results ?? b) as unknown;
  const out: RunTaskResult[] = [];
  if (Array.isArray(grouped)) {
    for (const g of grouped as { stage: string; results?: RunTaskResult[]; run_task_results?: RunTaskResult[] }[]) {
      for (const r of g.results ?? g.run_task_results ?? []) out.push({ ...r, stage: r.stage ?? g.stage });
    }
  } else if (grouped && typeof grouped === 'object') {
    for (const [stage, list] of Object.entries(grouped as Record<string, unknown>)) {
      if (!(RUN_TASK_STAGES as readonly string[]).includes(stage)) continue;
      const items = Array.isArray(list) ? list : ((list as { results?: RunTaskResult[] })?.results ?? []);
      for (const r of items as RunTaskResult[]) out.push({ ...r, stage: r.stage ?? stage });
    }
  }
  return out;
}

function outcomeId(o: Outcome): string {
  const raw = o as unknown as Record<string, string>;
  return o.outcome_id ?? raw['outcome-id'] ?? '';
}

export function RunTaskResults({ results }: { results: RunTaskResult[] }) {
  const byStage = RUN_TASK_STAGES.map((stage) => ({ stage, results: results.filter((r) => r.stage === stage) })).filter((g) => g.results.length > 0);
  const advisoryFailures = results.filter((r) => r.enforcement_level === 'advisory' && ['failed', 'error', 'timeout'].includes(r.status));
  const mandatoryFailures = results.filter((r) => r.enforcement_level === 'mandatory' && ['failed', 'error', 'timeout'].includes(r.status));
  return (
    <Card title="Run tasks" testId="run-task-results">
      {mandatoryFailures.length > 0 && (
        <div className="notice notice-danger">
          A mandatory run task did not pass ({mandatoryFailures.map(resultName).join(', ')}): the run stopped there.
        </div>
      )}
      {advisoryFailures.length > 0 && (
        <div className="notice notice-warning">Advisory run task{advisoryFailures.length > 1 ? 's' : ''} did not pass: {advisoryFailures.map(resultName).join(', ')}. The run went on.</div>
      )}
      {byStage.map((g) => (
        <div key={g.stage} className="rt-stage" data-stage={g.stage}>
          <h3 className="rt-stage-title">{stageLabel(g.stage)}</h3>
          <ul className="rt-list">
            {g.results.map((r) => (
              <ResultItem key={r.result_id} r={r} />
            ))}
          </ul>
        </div>
      ))}
    </Card>
  );
}

function ResultItem({ r }: { r: RunTaskResult }) {
  const href = safeHref(r.url);
  const took = r.started_at && r.completed_at ? new Date(r.completed_at).getTime() - new Date(r.started_at).getTime() : null;
  return (
    <li className={`rt-item rt-${r.status}`} data-testid={`run-task-result-${resultName(r)}`} data-status={r.status}>
      <div className="rt-head">
        <span className={`rt-icon rt-icon-${r.status}`} aria-label={r.status}>
          <Glyph name={ICONS[r.status] ?? 'dot'} size={12} />
        </span>
        <span className="rt-name">{resultName(r)}</span>
        <Badge tone={r.enforcement_level === 'mandatory' ? 'danger' : 'info'}>{r.enforcement_level === 'mandatory' ? 'Mandatory' : 'Advisory'}</Badge>
        <span className="rt-spacer" />
        {took !== null && <span className="muted small">{formatDuration(took)}</span>}
        <span className={`rt-status rt-status-${r.status}`}>{LABELS[r.status] ?? r.status}</span>
      </div>
      {r.message && <div className="rt-message">{r.message}</div>}
      {href && (
        <a className="rt-link" href={href} target="_blank" rel="noopener noreferrer nofollow">
          View details →
        </a>
      )}
      {r.outcomes && r.outcomes.length > 0 && (
        <ul className="outcomes">
          {r.outcomes.map((o, i) => (
            <OutcomeItem key={`${outcomeId(o)}-${i}`} o={o} defaultOpen={r.status !== 'passed' && r.outcomes!.length <= 3} />
          ))}
        </ul>
      )}
    </li>
  );
}

const LEVEL_TONE: Record<TagLevel, 'neutral' | 'info' | 'warning' | 'danger'> = { none: 'neutral', info: 'info', warning: 'warning', error: 'danger' };

function OutcomeItem({ o, defaultOpen }: { o: Outcome; defaultOpen: boolean }) {
  const [open, setOpen] = useState(defaultOpen);
  const href = safeHref(o.url);
  const tags = Object.entries(o.tags ?? {});
  const worst = tags.flatMap(([, v]) => v.map((t) => t.level ?? 'none')).sort((a, b) => rank(b) - rank(a))[0] ?? 'none';
  return (
    <li className={`outcome outcome-${worst}`} data-testid={`outcome-${outcomeId(o)}`}>
      <div className="outcome-head">
        <span className="outcome-id">{outcomeId(o)}</span>
        <span className="outcome-description">{o.description}</span>
      </div>
      {tags.length > 0 && (
        <div className="outcome-tags">
          {tags.map(([name, values]) =>
            values.map((t, i) => (
              <Badge key={`${name}-${i}`} tone={LEVEL_TONE[t.level ?? 'none'] ?? 'neutral'} title={`level: ${t.level ?? 'none'}`}>
                <span className="tag-name">{name}:</span> {t.label}
              </Badge>
            )),
          )}
        </div>
      )}
      <div className="outcome-actions">
        {o.body && (
          <button type="button" className="btn btn-sm btn-ghost" onClick={() => setOpen(!open)} aria-expanded={open}>
            {open ? '▾ Hide details' : '▸ Show details'}
          </button>
        )}
        {href && (
          <a href={href} target="_blank" rel="noopener noreferrer nofollow" className="small">
            Open →
          </a>
        )}
      </div>
      {o.body && open && <Markdown source={o.body} className="outcome-body" />}
    </li>
  );
}

function rank(l: string): number {
  return l === 'error' ? 3 : l === 'warning' ? 2 : l === 'info' ? 1 : 0;
}
