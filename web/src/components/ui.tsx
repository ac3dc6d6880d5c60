/** The small design system: pills, buttons, cards, dialogs, form fields, notices. */
import { useEffect, useRef, type ReactNode } from 'react';
import type { Submit } from '../hooks';
import type { ResultStatus, TaskStatus } from '../types';

type Tone = 'neutral' | 'info' | 'success' | 'warning' | 'danger' | 'muted' | 'accent';

const TASK_TONES: Record<TaskStatus, Tone> = {
  pending: 'muted', running: 'info', apply_pending: 'warning', success: 'success',
  failed: 'danger', errored: 'danger', cancelled: 'neutral', discarded: 'neutral',
};
const TASK_LABELS: Record<TaskStatus, string> = {
  pending: 'Pending', running: 'Running', apply_pending: 'Needs confirmation', success: 'Success',
  failed: 'Failed', errored: 'Errored', cancelled: 'Cancelled', discarded: 'Discarded',
};

export function Pill({ tone = 'neutral', children, title, testId, pulse }: { tone?: Tone; children: ReactNode; title?: string; testId?: string; pulse?: boolean }) {
  return (
    <span className={`pill pill-${tone}`} title={title} data-testid={testId}>
      <span className={`dot${pulse ? ' pulse' : ''}`} aria-hidden />
      {children}
    </span>
  );
}

export function StatusPill({ status }: { status: TaskStatus }) {
  return (
    <Pill tone={TASK_TONES[status] ?? 'neutral'} testId="run-status" pulse={status === 'running'}>
      <span data-status={status}>{TASK_LABELS[status] ?? status}</span>
    </Pill>
  );
}

const RESULT_TONES: Record<ResultStatus, Tone> = { pending: 'muted', running: 'info', passed: 'success', failed: 'danger', error: 'danger', timeout: 'warning' };
export const resultTone = (s: ResultStatus) => RESULT_TONES[s] ?? 'neutral';

export function Badge({ children, tone = 'neutral', title }: { children: ReactNode; tone?: Tone; title?: string }) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

export function Card({ title, actions, children, className, testId }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string; testId?: string }) {
  return (
    <section className={`card ${className ?? ''}`} data-testid={testId}>
      {(title || actions) && (
        <header className="card-header">
          {title && <h2>{title}</h2>}
          {actions && <div className="card-actions">{actions}</div>}
        </header>
      )}
      <div className="card-body">{children}</div>
    </section>
  );
}

export function Notice({ tone = 'info', children, testId }: { tone?: 'info' | 'danger' | 'warning' | 'success'; children: ReactNode; testId?: string }) {
  return (
    <div className={`notice notice-${tone}`} role={tone === 'danger' ? 'alert' : 'status'} data-testid={testId}>
      {children}
    </div>
  );
}

export function ErrorNotice({ error }: { error: Error | null | undefined }) {
  if (!error) return null;
  return <Notice tone="danger">{error.message}</Notice>;
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span className="spinner-wrap">
      <span className="spinner" aria-hidden />
      {label && <span>{label}</span>}
    </span>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <div className="empty-title">{title}</div>
      {children && <div className="empty-text">{children}</div>}
    </div>
  );
}

export function Dialog({ title, onClose, children, footer, wide }: { title: string; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    ref.current?.querySelector<HTMLElement>('input, select, textarea')?.focus();
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={`dialog${wide ? ' dialog-wide' : ''}`} role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <header className="dialog-header">
          <h2>{title}</h2>
          <button type="button" className="icon-button" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        <div className="dialog-body">{children}</div>
        {footer && <footer className="dialog-footer">{footer}</footer>}
      </div>
    </div>
  );
}

/**
 * A Dialog holding one form (`id`), with Cancel and a primary submit button in its footer; the
 * submit button is disabled while `submit` is busy or when `disabled`, and the error shows last.
 */
export function FormDialog({ id, title, onClose, submit, submitLabel, disabled, wide, children }: { id: string; title: string; onClose: () => void; submit: Submit; submitLabel: ReactNode; disabled?: boolean; wide?: boolean; children: ReactNode }) {
  return (
    <Dialog
      title={title}
      onClose={onClose}
      wide={wide}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" form={id} className="btn btn-primary" disabled={submit.busy || disabled}>
            {submitLabel}
          </button>
        </>
      }
    >
      <form id={id} className="form" onSubmit={submit.onSubmit}>
        {children}
        <ErrorNotice error={submit.error} />
      </form>
    </Dialog>
  );
}

export function Field({ label, hint, error, children, htmlFor }: { label: ReactNode; hint?: ReactNode; error?: string | null; children: ReactNode; htmlFor?: string }) {
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label className="field-label" htmlFor={htmlFor}>
        {label}
      </label>
      {hint && <div className="field-hint">{hint}</div>}
      {children}
      {error && <div className="field-error">{error}</div>}
    </div>
  );
}

export function KeyValue({ items }: { items: [ReactNode, ReactNode][] }) {
  return (
    <dl className="kv">
      {items.map(([k, v], i) => (
        <div key={i} className="kv-row">
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Tabs({ tabs, active, onSelect }: { tabs: { id: string; label: ReactNode }[]; active: string; onSelect: (id: string) => void }) {
  return (
    <nav className="tabs" role="tablist">
      {tabs.map((t) => (
        <button key={t.id} type="button" role="tab" aria-selected={t.id === active} className={`tab${t.id === active ? ' active' : ''}`} onClick={() => onSelect(t.id)}>
          {t.label}
        </button>
      ))}
    </nav>
  );
}
