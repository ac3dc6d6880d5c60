/**
 * Runners of the embedded default: one waits warm for the next phase, at the lowest CPU priority
 * when this process may raise it back (CAP_SYS_NICE), so loading it takes nothing from the phase
 * that runs; every phase, and terraform under it, runs at normal priority.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { canRaisePriority } from '../../local/runners.js';
import { createWorkspace, startTask, uniqueName, uploadConfig, waitForEnd, type TestRunway } from '../support/runway.js';
import { startRunway } from '../support/runway.js';

let rw: TestRunway;

beforeAll(async () => {
  rw = await startRunway();
}, 120_000);

afterAll(async () => {
  await rw?.stop();
});

/** Field 19 of /proc/<pid>/task/<tid>/stat, after the command name (which may hold spaces). */
const niceness = (statText: string) => Number(statText.slice(statText.lastIndexOf(')') + 2).split(' ')[16]);

/** The niceness of every thread of each runner process (child of this process) waiting for a phase. */
function waitingRunners(): number[][] {
  const out: number[][] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid || !readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('runner/main.mjs')) continue;
      out.push(readdirSync(`/proc/${entry}/task`).map((tid) => niceness(readFileSync(`/proc/${entry}/task/${tid}/stat`, 'utf8'))));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

test('each phase runs at normal priority; the runner waiting for the next one at the lowest', async () => {
  const ws = uniqueName('nice');
  await createWorkspace(rw.api, { name: ws, auto_apply: true });
  // The provisioner's own niceness (terraform's children inherit the runner's); replaced every run.
  await uploadConfig(rw.api, ws, { 'main.tf': `resource "terraform_data" "n" {\n  triggers_replace = timestamp()\n  provisioner "local-exec" {\n    command = "echo niceness=$(cut -d' ' -f19 /proc/self/stat)"\n  }\n}\n` });
  for (let run = 0; run < 2; run++) {
    const task = await startTask(rw.api, ws, 'plan_and_apply');
    expect(await waitForEnd(rw.api, task.task_id)).toMatchObject({ status: 'success' });
    const text = (await rw.api.get<string>(`/tasks/${task.task_id}/logs?type=apply&format=text`)).body;
    expect(text).toContain('(local-exec): niceness=0');
  }
  // Between runs one runner waits, loaded; after three phases it is not the first (which starts
  // with the server at normal priority).
  const waiting = waitingRunners();
  expect(waiting).toHaveLength(1);
  const expected = canRaisePriority() ? 19 : 0;
  expect(new Set(waiting[0])).toEqual(new Set([expected]));
}, 120_000);
