/**
 * The runner: one phase (plan or apply) of one run, in its own container (ECS Fargate) or child
 * process (embedded default). It prepares a working directory, runs the real `terraform`, numbers
 * and stores every line, keeps artifacts, and reports its outcome in the task item.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readArtifactOfKind, saveArtifact } from '../../functions/core/artifacts.js';
import { extractArchive } from '../../functions/core/configuration.js';
import type { Deps } from '../../functions/core/deps.js';
import { sha256 } from '../../functions/core/ids.js';
import { createMasker, LogWriter, type Phase } from '../../functions/core/logs.js';
import type { PhaseResult, Stage, StateVersion, Task, Variable, Workspace } from '../../functions/core/model.js';
import { hasChanges, planChanges, redactPlan, type PlanJson } from '../../functions/core/plan.js';
import { configurationBlobKey, resolveVariables } from '../../functions/core/workspaces.js';
import type { Launcher, OutputListener, TerraformProcess } from './launcher.js';
import { LinesFile } from './lines-file.js';

export type RunnerDeps = Pick<Deps, 'store' | 'blobs' | 'secrets' | 'sink'>;

export interface RunnerOptions {
  terraformBin: string;
  /** starts terraform at the runner's priority, above the thread that ships its lines */
  launcher: Launcher;
  /** recorded in the run so a cancel can find this runner (ECS task ARN, or pid locally) */
  runnerRef: string;
  /** shared provider cache, so init does not download the same providers again */
  pluginCacheDir?: string;
  /** where working directories go (the OS temp dir by default) */
  workRoot?: string;
}

export const runnerWorkDir = (root: string, taskId: number, phase: Phase) => join(root, `runway-${taskId}-${phase}`);
/** in the work dir: the phase's lines for the log artifact */
const OWN_LINES_FILE = '.runway-own-lines';

class Cancelled extends Error {}

/** Environment for terraform: automation mode; a CLI config file that does not exist is dropped. */
function terraformEnv(vars: Variable[], cacheDir?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('RUNWAY_') || k === 'ADMIN_TOKEN') delete env[k];
  if (env.TF_CLI_CONFIG_FILE && !existsSync(env.TF_CLI_CONFIG_FILE)) delete env.TF_CLI_CONFIG_FILE;
  if (cacheDir) env.TF_PLUGIN_CACHE_DIR = cacheDir;
  for (const v of vars) if (v.category === 'env') env[v.key] = v.value;
  return env;
}

export class Runner {
  private log!: LogWriter;
  private task!: Task;
  private ws!: Workspace;
  private child: TerraformProcess | null = null;
  private cancelled = false;
  private stage: Stage | null = null;
  private stageStarted = 0;
  private phaseName: Phase = 'plan';
  /** the phase's working directory (terraform's output files go there too) */
  private workDir = '';
  /** this phase's lines, for the log artifact */
  private ownLines!: LinesFile;
  /** the line_num of this phase's first line */
  private firstLine = 1;
  /** stage_timings of the run, as this runner adds to them */
  private timings: Record<string, number> = {};
  /** changes that ride along with the next task update (saves a write) */
  private pendingChanges: Partial<Task> = {};

  constructor(
    private readonly deps: RunnerDeps,
    private readonly opts: RunnerOptions,
  ) {}

  /** An interrupt (SIGINT/SIGTERM from a cancel) reaches terraform as Ctrl-C: it stops and saves state. */
  interrupt(): void {
    this.cancelled = true;
    this.child?.signal('SIGINT');
  }

  /** `workspaceId`, when the caller knows it, lets every first read go at once. */
  async run(taskId: number, phase: Phase, workspaceId?: string): Promise<PhaseResult | null> {
    const wsReads = (id: string) => Promise.all([this.deps.store.getWorkspace(id), resolveVariables(this.deps, id)] as const);
    const [task, lastLine, early] = await Promise.all([this.deps.store.getTask(taskId), this.deps.store.lastLogLine(taskId), workspaceId ? wsReads(workspaceId) : null]);
    if (!task) throw new Error(`task ${taskId} not found`);
    const [ws, vars] = early && workspaceId === task.workspace_id ? early : await wsReads(task.workspace_id);
    if (!ws) throw new Error(`workspace ${task.workspace_id} not found`);
    this.task = task;
    this.ws = ws;
    this.phaseName = phase;
    this.timings = { ...task.stage_timings };
    this.firstLine = lastLine + 1;
    // A fixed place per run and phase: whoever started the runner can remove it even after a kill
    // (it holds state, plan and the variables' values).
    const dir = runnerWorkDir(this.opts.workRoot ?? tmpdir(), taskId, phase);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    this.workDir = dir;
    this.ownLines = new LinesFile(join(dir, OWN_LINES_FILE));
    this.log = new LogWriter(
      { taskId, startAfter: lastLine, store: this.deps.store, sink: this.deps.sink, mask: createMasker(vars.filter((v) => v.sensitive).map((v) => v.value)), keep: (line) => this.ownLines.add(line) },
      task.log_summary,
    );
    // The run's viewers are adopted while the phase prepares, not when its first line waits for them.
    this.deps.sink?.prepare?.(taskId, lastLine);
    this.pendingChanges = { runner_ref: this.opts.runnerRef };
    if (task.cancel_requested) this.cancelled = true;

    let result: PhaseResult;
    try {
      result = await this.phase(phase, dir, vars);
    } catch (err) {
      if (!(err instanceof Cancelled || this.cancelled)) {
        const message = `the runner failed: ${(err as Error).message}`;
        this.log.output('stderr', `Error: ${message}`, phase);
        this.closeStage();
        await this.finish({ error_message: message });
        await this.removeWorkDir(dir);
        return null;
      }
      result = { phase, outcome: 'cancelled', message: 'cancelled by request' };
    }
    this.closeStage();
    await this.finish({ phase_results: { ...(this.task.phase_results ?? {}), [phase]: result }, ...(result.outcome === 'failed' ? { error_message: result.message } : {}) });
    await this.removeWorkDir(dir);
    return result;
  }

  /**
   * After the outcome is reported: a Fargate task's disk goes with it; the embedded default removes
   * the directory itself when the runner exits (RUNWAY_WORK_DIR), so only a bare run cleans up here.
   */
  private async removeWorkDir(dir: string): Promise<void> {
    if (!this.opts.workRoot) await rm(dir, { recursive: true, force: true });
  }

  private async phase(phase: Phase, dir: string, vars: Variable[]): Promise<PhaseResult> {
    const taskId = this.task.task_id;
    const env = terraformEnv(vars, this.opts.pluginCacheDir);
    const root = join(dir, 'config');

    await this.beginStage('fetching');
    const cvKey = configurationBlobKey({ workspace_id: this.ws.workspace_id, configuration_version_id: this.task.configuration_version_id });
    const archive = await this.deps.blobs.get(cvKey);
    if (!archive) throw new Error(`configuration version ${this.task.configuration_version_id} has no stored archive`);
    const configurationSaved = phase === 'plan' ? saveArtifact(this.deps, taskId, 'configuration', archive, cvKey) : null;
    await extractArchive(archive, root);
    const cwd = resolve(root, this.ws.working_directory || '.');
    if (!cwd.startsWith(root) || !existsSync(cwd)) throw new Error(`working_directory ${this.ws.working_directory} is not in the configuration`);
    const [before] = await Promise.all([this.restoreState(cwd), this.writeVariables(cwd, vars), configurationSaved]);
    if (phase === 'plan' && before) await saveArtifact(this.deps, taskId, 'state_before', before.body, before.version.blob_key);
    this.log.output('stdout', `Configuration version ${this.task.configuration_version_id} (${archive.length} bytes) in ${this.ws.working_directory || '.'}`, phase);

    await this.beginStage('init');
    if ((await this.terraform(['init', '-input=false', '-no-color'], cwd, env, phase)) !== 0) return this.failed(phase, 'terraform init failed');

    if (phase === 'plan') {
      await this.beginStage('planning');
      if ((await this.terraform(['plan', '-input=false', '-no-color', '-out=tfplan'], cwd, env, phase)) !== 0) return this.failed(phase, 'terraform plan failed');
      await this.beginStage('saving_plan');
      const [planJsonText] = await Promise.all([
        this.capture(['show', '-json', 'tfplan'], cwd, env),
        readFile(join(cwd, 'tfplan')).then((planFile) => saveArtifact(this.deps, taskId, 'plan_file', planFile)),
      ]);
      const plan = JSON.parse(planJsonText) as PlanJson;
      // Kept and served (to users and run tasks) without the workspace's sensitive values.
      const sensitive = vars.filter((v) => v.sensitive && v.category === 'terraform');
      const masker = createMasker(vars.filter((v) => v.sensitive).map((v) => v.value));
      await saveArtifact(this.deps, taskId, 'plan_json', Buffer.from(JSON.stringify(redactPlan(plan, sensitive, masker))));
      this.pendingChanges.plan_changes = planChanges(plan);
      return { phase, outcome: 'success', has_changes: hasChanges(plan) };
    }

    await this.beginStage('restoring_plan');
    const planFile = await readArtifactOfKind(this.deps, taskId, 'plan_file');
    await writeFile(join(cwd, 'tfplan'), planFile);
    this.log.output('stdout', `Restored the saved plan (${planFile.length} bytes, sha256 ${sha256(planFile).slice(0, 12)}…)`, phase);

    await this.beginStage('applying');
    const code = await this.terraform(['apply', '-input=false', '-no-color', 'tfplan'], cwd, env, phase).catch((err) => {
      if (err instanceof Cancelled) return -1;
      throw err;
    });
    // Whatever happened, keep the state terraform wrote: a failed or interrupted apply may have
    // changed real infrastructure.
    await this.beginStage('saving_state', true);
    await this.saveState(cwd, before?.version ?? null);
    if (this.cancelled) return { phase, outcome: 'cancelled', message: 'cancelled by request; the state terraform saved was kept' };
    if (code !== 0) return this.failed(phase, 'terraform apply failed');
    return { phase, outcome: 'success' };
  }

  private failed(phase: Phase, message: string): PhaseResult {
    if (this.cancelled) return { phase, outcome: 'cancelled', message: 'cancelled by request' };
    return { phase, outcome: 'failed', message };
  }

  private async writeVariables(cwd: string, vars: Variable[]): Promise<void> {
    const tf = vars.filter((v) => v.category === 'terraform');
    const json: Record<string, unknown> = {};
    for (const v of tf.filter((v) => !v.hcl)) json[v.key] = v.value;
    await writeFile(join(cwd, 'zz-runway.auto.tfvars.json'), JSON.stringify(json));
    const hcl = tf.filter((v) => v.hcl).map((v) => `${v.key} = ${v.value}\n`).join('');
    if (hcl) await writeFile(join(cwd, 'zz-runway-hcl.auto.tfvars'), hcl);
  }

  private async restoreState(cwd: string): Promise<{ version: StateVersion; body: Buffer } | null> {
    const current = await this.deps.store.getCurrentState(this.ws.workspace_id);
    if (!current) return null;
    const body = await this.deps.blobs.get(current.version.blob_key);
    if (!body || sha256(body) !== current.version.sha256) throw new Error('the workspace state failed its SHA-256 check');
    await writeFile(join(cwd, 'terraform.tfstate'), body);
    return { version: current.version, body };
  }

  private async saveState(cwd: string, before: StateVersion | null): Promise<void> {
    const path = join(cwd, 'terraform.tfstate');
    if (!existsSync(path)) return;
    const body = await readFile(path);
    const hash = sha256(body);
    if (before && before.sha256 === hash) return;
    const state = JSON.parse(body.toString('utf8')) as { serial: number; lineage: string; outputs?: Record<string, { value: unknown; type: unknown; sensitive?: boolean }> };
    const version: StateVersion = {
      serial: state.serial,
      lineage: state.lineage,
      sha256: hash,
      blob_key: `states/${this.ws.workspace_id}/${String(state.serial).padStart(8, '0')}-${hash.slice(0, 16)}.tfstate`,
      task_id: this.task.task_id,
      created_at: new Date().toISOString(),
    };
    await this.deps.blobs.put(version.blob_key, body);
    await saveArtifact(this.deps, this.task.task_id, 'state_after', body, version.blob_key);
    const outputs: Record<string, unknown> = {};
    for (const [name, o] of Object.entries(state.outputs ?? {})) {
      outputs[name] = { value: o.sensitive ? null : o.value, type: o.type, sensitive: !!o.sensitive };
    }
    await this.deps.store.putCurrentState(this.ws.workspace_id, version, outputs);
    this.log.output('stdout', `State serial ${version.serial} saved (sha256 ${hash.slice(0, 12)}…)`, 'apply');
  }

  /** Runs terraform, streaming its lines into the log; resolves with the exit code. */
  private terraform(args: string[], cwd: string, env: NodeJS.ProcessEnv, phase: Phase): Promise<number> {
    if (this.cancelled) return Promise.reject(new Cancelled());
    // Split by hand: for a run printing 50 000 lines a second, readline's per-line events cost
    // more than the rest of the runner's work on a line. Lines read together share a timestamp:
    // when the launcher read them, however late this thread takes them.
    const rest = { stdout: '', stderr: '' };
    const child = this.start(args, cwd, env, (stream, text, readAt) => {
      const at = new Date(readAt).toISOString();
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        let line = rest[stream] + text.slice(start, end);
        if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1); // \r\n
        rest[stream] = '';
        this.log.output(stream, line, phase, at);
        start = end + 1;
      }
      rest[stream] += text.slice(start);
    });
    return child.exited.finally(() => {
      for (const stream of ['stdout', 'stderr'] as const) if (rest[stream]) this.log.output(stream, rest[stream], phase);
    });
  }

  /** Runs terraform and returns its stdout (for `show -json`, which is data, not log). */
  private async capture(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
    const out = { stdout: '', stderr: '' };
    const code = await this.start(args, cwd, env, (stream, text) => (out[stream] += text)).exited;
    if (code !== 0) throw new Error(`terraform ${args[0]} exited ${code}: ${out.stderr.slice(0, 500)}`);
    return out.stdout;
  }

  /** Starts terraform through the launcher thread (see launcher.ts); an interrupt reaches it while it runs. */
  private start(args: string[], cwd: string, env: NodeJS.ProcessEnv, onOutput: OutputListener): TerraformProcess {
    const child = this.opts.launcher.start(this.opts.terraformBin, args, cwd, env, this.workDir, onOutput);
    this.child = child;
    const exited = child.exited
      .catch((err: Error) => {
        throw new Error(`cannot run terraform (${this.opts.terraformBin}): ${err.message}`);
      })
      .finally(() => {
        if (this.child === child) this.child = null;
      });
    return { exited, signal: child.signal };
  }

  /** `always`: the stage runs even after a cancel (saving the state terraform wrote). */
  private async beginStage(stage: Stage, always = false): Promise<void> {
    if (this.cancelled && !always) throw new Cancelled();
    this.closeStage();
    this.stage = stage;
    this.stageStarted = Date.now();
    this.log.marker(stage, 'begin', this.phaseName);
    // One write records the end of the previous stage and the start of this one; terraform does not
    // wait for it (writes stay in order, and finish() waits for all of them).
    this.queueUpdate({ stage, stage_started_at: new Date(this.stageStarted).toISOString() });
  }

  /** Ends the current stage: its end marker now, its timing with the next write. */
  private closeStage(): void {
    if (!this.stage) return;
    const stage = this.stage;
    this.stage = null;
    this.log.marker(stage, 'end', this.phaseName);
    // Kept here, not read back from the task: the writes before this one may still be queued.
    this.timings = { ...this.timings, [stage]: Date.now() - this.stageStarted };
    this.pendingChanges = { ...this.pendingChanges, stage_timings: { ...this.timings } };
  }

  /** Task writes in order, one at a time; the first failure is reported by the next `update`. */
  private updates: Promise<void> = Promise.resolve();
  private updateFailure: unknown = null;

  private queueUpdate(changes: Partial<Task>): Promise<void> {
    const all = { ...this.pendingChanges, ...changes };
    this.pendingChanges = {};
    this.updates = this.updates.then(async () => {
      if (Object.keys(all).length === 0 || this.updateFailure) return;
      try {
        const updated = await this.deps.store.updateTask(this.task, all);
        if (updated) this.task = updated;
      } catch (err) {
        this.updateFailure = err;
      }
    });
    return this.updates;
  }

  private async update(changes: Partial<Task>): Promise<void> {
    await this.queueUpdate(changes);
    if (this.updateFailure) throw this.updateFailure;
  }

  private async finish(changes: Partial<Task>): Promise<void> {
    await this.log.flush();
    // Every line is stored: the outcome and the log artifact can be written side by side.
    await Promise.all([
      this.update({ ...changes, log_last_line: this.log.lastLine, log_summary: this.log.summary, log_artifact_last_line: this.log.lastLine }),
      this.saveLogArtifact(this.task.log_artifact_last_line ?? 0),
    ]);
  }

  /**
   * The run's whole log as an artifact, without reading the run's lines back from the store: the
   * previous phase's artifact, the few lines written between the phases (run-task stages), then
   * this phase's own lines, kept as they were written.
   */
  private async saveLogArtifact(previousLast: number): Promise<void> {
    const taskId = this.task.task_id;
    const previous = previousLast > 0 ? (await readArtifactOfKind(this.deps, taskId, 'logs')).toString('utf8') : '';
    const between: string[] = [];
    read: for await (const chunk of this.deps.store.readLog(taskId, previousLast)) {
      for (const m of chunk) {
        if (m.line_num >= this.firstLine) break read;
        between.push(m.line);
      }
    }
    const own = await this.ownLines.close();
    await saveArtifact(this.deps, taskId, 'logs', Buffer.concat([Buffer.from(previous + between.map((l) => `${l}\n`).join('')), own]));
  }
}
