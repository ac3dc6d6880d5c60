/** Display helpers: durations, times, stage names. */

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s % 60);
  if (m < 60) return `${m}m ${rest}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** The API gives run durations in seconds. */
export const formatSeconds = (s: number | null | undefined) => (s === null || s === undefined ? '—' : formatDuration(s * 1000));

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function timeAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const diff = Math.max(0, now - new Date(iso).getTime()) / 1000;
  if (diff < 45) return 'just now';
  if (diff < 3600) return `${Math.round(diff / 60)} min ago`;
  if (diff < 86400) return `${Math.round(diff / 3600)} h ago`;
  return `${Math.round(diff / 86400)} d ago`;
}

export function clockTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

const STAGE_LABELS: Record<string, string> = {
  fetching: 'Fetching', init: 'Init', pre_plan: 'Pre-plan', planning: 'Planning', post_plan: 'Post-plan',
  saving_plan: 'Saving plan', apply_pending: 'Confirmation', restoring_plan: 'Restoring plan', pre_apply: 'Pre-apply',
  applying: 'Applying', post_apply: 'Post-apply', saving_state: 'Saving state',
};
export const stageLabel = (s: string) => STAGE_LABELS[s] ?? s.replace(/_/g, ' ');

/** Only http(s) links are rendered as links (a `javascript:` URL from a run task must stay text). */
export function safeHref(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url, location.origin);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}
