/**
 * Runners of the embedded default: one waits warm for the next phase, at the lowest CPU priority
 * when this process may raise it back (CAP_SYS_NICE), so loading it takes nothing from the phase
 * that runs; every phase, and terraform under it, runs at normal priority.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { canRaisePriority } from '../../local/runners.js';
import { parentsOf, statFields } from '../support/processes.js';
import { createWorkspace, startTask, uniqueName, uploadConfig, waitForEnd, type TestRunway } from '../support/runway.js';
import { startRunway } from '../support/runway.js';

let rw: TestRunway;

beforeAll(async () => {
  rw = await startRunway();
}, 120_000);

afterAll(async () => {
  await rw?.stop();
});

/** The niceness of every thread of each runner process (child of this process) waiting for a phase. */
function waitingRunners(): number[][] {
  return [...parentsOf()]
    .filter(([pid, parent]) => parent === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('runner/main.mjs'))
    .map(([pid]) => readdirSync(`/proc/${pid}/task`).map((tid) => Number(statFields(`/proc/${pid}/task/${tid}/stat`)[16])));
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
