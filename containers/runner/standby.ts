/**
 * How the embedded default talks to a waiting runner (containers/runner/main.ts with
 * RUNWAY_STANDBY=1), over the child process's IPC channel: it sends one `Assignment` at a time and
 * the runner answers each phase with `PhaseEnded`.
 */

/** A phase to run. */
export interface PhaseAssignment {
  task_id: number;
  phase: string;
  workspace_id?: string;
}
/** From the embedded default: a phase to run, or `exit`. */
export type Assignment = PhaseAssignment | { exit: true };
/** To the embedded default, after each phase: `reported` (an outcome was stored); `retiring`: this process exits now. */
export interface PhaseEnded {
  type: 'phase_ended';
  reported: boolean;
  retiring: boolean;
}

/** The embedded default's assignments, in order; ends when the parent goes or says `exit`. */
export async function* assignments(): AsyncGenerator<PhaseAssignment> {
  const queue: Assignment[] = [];
  let wake: (() => void) | null = null;
  let closed = false;
  process.on('message', (m: Assignment) => {
    queue.push(m);
    wake?.();
  });
  process.once('disconnect', () => {
    closed = true;
    wake?.();
  });
  for (;;) {
    const next = queue.shift();
    if (next) {
      if ('exit' in next) return;
      yield next;
      continue;
    }
    if (closed) return;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
  }
}
