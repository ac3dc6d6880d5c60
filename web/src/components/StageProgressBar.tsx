/**
 * The run's stages with each one's state and duration (seed 001 "StageProgressBar"), from the
 * run's `stage`, `status` and `stage_timings`.
 */
import { useEffect, useState } from 'react';
import { formatDuration, stageLabel } from '../format';
import { Glyph, type GlyphName } from './icons';
import type { StageMarks } from '../logs/useRunLog';
import type { Task } from '../types';

const PLAN = ['fetching', 'init', 'pre_plan', 'planning', 'post_plan', 'saving_plan'];
const APPLY = ['apply_pending', 'restoring_plan', 'pre_apply', 'applying', 'post_apply', 'saving_state'];

export type StageState = 'pending' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled' | 'skipped';

export interface StageProgress {
  name: string;
  state: StageState;
  duration: number | null;
}

const EMPTY: StageMarks = { starts: {}, ends: {}, active: null };

/**
 * The stage in progress comes from the log's markers when there are some (they arrive at once;
 * the run itself is polled), else from the run's `stage`. Fetching and init run again before the
 * apply: the bar counts that as restoring the plan. Which stage failed is the one begun last,
 * whatever order the platform ran stages in (it saves the plan before post-plan run tasks, say).
 */
export function stagesOf(task: Task, marks: StageMarks = EMPTY): StageProgress[] {
  const names = task.task_type === 'plan' ? PLAN : [...PLAN, ...APPLY];
  const timings = task.stage_timings ?? {};
  const final = ['success', 'failed', 'errored', 'cancelled', 'discarded'].includes(task.status);
  let current: string | null = null;
  if (!final) {
    if (task.status === 'apply_pending') current = 'apply_pending';
    else if (marks.active) {
      current = marks.active.stage;
      if (marks.active.phase === 'apply' && (current === 'fetching' || current === 'init')) current = 'restoring_plan';
    } else {
      current = task.stage;
      if ((current === 'fetching' || current === 'init') && task.task_type === 'plan_and_apply' && timings.saving_plan !== undefined) current = 'restoring_plan';
    }
  }
  const currentIdx = current ? names.indexOf(current) : -1;
  // A stage is known to have run from its timing, or sooner from its begin marker.
  const reached = (n: string, i: number) => timings[n] !== undefined || marks.starts[n] !== undefined || i === currentIdx;
  const markedDuration = (n: string) => {
    const a = marks.starts[n];
    const b = marks.ends[n];
    return a && b && b >= a ? new Date(b).getTime() - new Date(a).getTime() : null;
  };
  let lastReached = names.reduce((m, n, i) => (reached(n, i) ? i : m), -1);
  const maxReached = lastReached;
  let latest = '';
  names.forEach((n, i) => {
    const at = marks.starts[n];
    if (at && at > latest && reached(n, i)) {
      latest = at;
      lastReached = i;
    }
  });
  return names.map((name, i) => {
    const duration = timings[name] ?? markedDuration(name);
    let state: StageState;
    if (i === currentIdx) return { name, state: name === 'apply_pending' ? 'waiting' : 'running', duration: null };
    if (duration !== null || reached(name, i)) {
      if (final && i === lastReached && (task.status === 'failed' || task.status === 'errored')) state = 'failed';
      else if (final && i === lastReached && task.status === 'cancelled') state = 'cancelled';
      else state = 'completed';
    } else if (final || i < maxReached) state = 'skipped';
    else state = 'pending';
    return { name, state, duration };
  });
}

const GLYPH: Record<StageState, GlyphName | null> = { pending: null, running: 'spinner', waiting: 'pause', completed: 'check', failed: 'cross', cancelled: 'stop', skipped: 'dash' };

export function StageProgressBar({ task, marks = EMPTY }: { task: Task; marks?: StageMarks }) {
  const stages = stagesOf(task, marks);
  const running = stages.find((s) => s.state === 'running' || s.state === 'waiting');
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!running) return;
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(t);
  }, [running]);

  return (
    <ol className="stages" data-testid="stage-progress">
      {stages.map((s, i) => {
        const started = marks.starts[s.name] ?? (s.name === 'restoring_plan' && marks.active?.phase === 'apply' ? marks.starts[marks.active.stage] : undefined);
        const elapsed = (s.state === 'running' || s.state === 'waiting') && started ? now - new Date(started).getTime() : null;
        const live = elapsed !== null && elapsed >= 1000 ? elapsed : null;
        return (
          <li key={s.name} className={`stage stage-${s.state}`} data-stage={s.name} data-state={s.state} title={`${stageLabel(s.name)}: ${s.state}`}>
            <div className="stage-track">
              <span className="stage-indicator">
                {GLYPH[s.state] && <Glyph name={GLYPH[s.state]!} />}
              </span>
              {i < stages.length - 1 && <span className="stage-connector" />}
            </div>
            <div className="stage-info">
              <div className="stage-title">{stageLabel(s.name)}</div>
              <div className="stage-duration">
                {s.duration !== null ? formatDuration(s.duration) : live !== null ? formatDuration(live) : s.state === 'running' ? 'running' : s.state === 'waiting' ? 'waiting' : s.state === 'skipped' ? 'skipped' : ''}
              </div>
            </div>
          </li>
        );
      })}
    </ol>
  );
}
