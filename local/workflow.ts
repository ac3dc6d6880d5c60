/**
 * The embedded default's Step Functions: the run definition (functions/workflow/definition.ts)
 * executed in-process by aws-local-stepfunctions. Task states are overridden by their Resource:
 *   - a Lambda ARN            → the same handler module the Lambda runs
 *   - lambda:invoke.waitForTaskToken → the handler, then a wait settled by sendTaskSuccess/Failure
 *     (the interpreter has no task tokens: the context getter mints one per evaluation)
 *   - ecs:runTask.sync        → the runner as a child process, from the container overrides
 */
import './polyfills.js';
import { randomUUID } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import type { Task } from '../functions/core/model.js';
import type { Workflow } from '../functions/core/ports.js';
import { buildRunDefinition, type RunDefinitionRefs } from '../functions/workflow/definition.js';

type Json = Parameters<StateMachine['run']>[0];
type LambdaHandler = (event: never, context: never) => Promise<unknown>;

export interface LocalWorkflowOptions {
  /** function ARN → handler (as deployed) */
  lambdas: Record<string, LambdaHandler>;
  /** runs one runner phase; resolves when the runner has exited */
  runRunner(taskId: number, phase: 'plan' | 'apply', workspaceId?: string): Promise<{ exitCode: number | null }>;
  onError?(taskId: number, err: unknown): void;
}

const arn = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:runway-${name}`;

/** Local placeholders for the ARNs CDK fills in. */
export const LOCAL_REFS: RunDefinitionRefs = {
  beginFunctionArn: arn('begin'),
  prepareStageFunctionArn: arn('prepare-stage'),
  dispatchFunctionArn: arn('dispatch'),
  markResultFunctionArn: arn('mark-result'),
  decideStageFunctionArn: arn('decide-stage'),
  afterPhaseFunctionArn: arn('after-phase'),
  awaitConfirmationFunctionArn: arn('await-confirmation'),
  finalizeFunctionArn: arn('finalize'),
  runner: {
    clusterArn: 'arn:aws:ecs:us-east-1:000000000000:cluster/runway-local',
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/runway-runner:1',
    containerName: 'runner',
    subnets: ['subnet-local'],
    securityGroups: ['sg-local'],
  },
};

interface Waiter {
  resolve(output: Json): void;
  reject(err: Error): void;
  /** restarts the heartbeat timer (HeartbeatSeconds), when the state has one */
  heartbeat(): void;
}

function lambdaContext(name: string) {
  const deadline = Date.now() + 120_000;
  return { functionName: name, awsRequestId: randomUUID(), getRemainingTimeInMillis: () => deadline - Date.now() } as never;
}

export class LocalWorkflow implements Workflow {
  private readonly definition = buildRunDefinition(LOCAL_REFS);
  private readonly machine = new StateMachine(this.definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  private readonly waiters = new Map<string, Waiter>();
  /** handler calls in progress (stop waits for them before the database closes) */
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly executions = new Map<number, { abort: () => void; done: Promise<unknown> }>();

  constructor(private readonly opts: LocalWorkflowOptions) {}

  async startRun(task: Pick<Task, 'task_id' | 'workspace_id'>): Promise<void> {
    if (this.executions.has(task.task_id)) return; // execution names are unique: run-<task_id>
    const exec = this.machine.run({ task_id: task.task_id, workspace_id: task.workspace_id }, {
      overrides: { taskResourceLocalHandlers: this.overrides() },
      context: { Task: { get Token() { return randomUUID(); } } } as never,
      noThrowOnAbort: true,
    });
    const done = exec.result
      .catch((err: unknown) => this.opts.onError?.(task.task_id, err))
      .finally(() => this.executions.delete(task.task_id));
    this.executions.set(task.task_id, { abort: exec.abort, done });
  }

  async sendTaskHeartbeat(token: string): Promise<void> {
    const w = this.waiters.get(token);
    if (!w) throw Object.assign(new Error('task token is not waiting'), { name: 'TaskTimedOut' });
    w.heartbeat();
  }

  async sendTaskSuccess(token: string, output: Record<string, unknown>): Promise<void> {
    const w = this.waiters.get(token);
    if (!w) throw Object.assign(new Error('task token is not waiting'), { name: 'TaskTimedOut' });
    this.waiters.delete(token);
    w.resolve(output as Json);
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
    const w = this.waiters.get(token);
    if (!w) throw Object.assign(new Error('task token is not waiting'), { name: 'TaskTimedOut' });
    this.waiters.delete(token);
    w.reject(Object.assign(new Error(cause), { name: error }));
  }

  /** Executions in flight (the embedded default waits for them, or aborts them, on stop). */
  get active(): number[] {
    return [...this.executions.keys()];
  }

  /** Aborts every execution, then waits (bounded) for steps already running to finish their writes. */
  async stop(): Promise<void> {
    for (const e of this.executions.values()) e.abort();
    for (const w of this.waiters.values()) w.reject(new Error('stopping'));
    this.waiters.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
  }

  /** Overrides for every Task state, those inside Map item processors included. */
  private overrides(): Record<string, (input: Json) => Promise<Json>> {
    const out: Record<string, (input: Json) => Promise<Json>> = {};
    type S = { Type: string; Resource?: string; ItemProcessor?: { States: Record<string, S> }; Iterator?: { States: Record<string, S> } };
    const visit = (states: Record<string, S>) => {
      for (const [name, state] of Object.entries(states)) {
        const nested = state.ItemProcessor ?? state.Iterator;
        if (nested) visit(nested.States);
        if (state.Type !== 'Task' || !state.Resource) continue;
        const resource = state.Resource;
        if (resource === 'arn:aws:states:::ecs:runTask.sync') out[name] = (input) => this.runner(input);
        else if (resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken') out[name] = (input) => this.waitForToken(input);
        else out[name] = (input) => this.invoke(resource, input);
      }
    };
    visit((this.definition as { States: Record<string, S> }).States);
    return out;
  }

  private async invoke(fn: string, payload: Json): Promise<Json> {
    const handler = this.opts.lambdas[fn];
    if (!handler) throw new Error(`no local handler for ${fn}`);
    const call = handler(payload as never, lambdaContext(fn));
    this.inflight.add(call);
    try {
      return ((await call) ?? null) as Json;
    } finally {
      this.inflight.delete(call);
    }
  }

  /**
   * The interpreter has no task tokens or heartbeats: the waiter is registered before the handler
   * runs (a callback may come before the handler returns), and a heartbeat timer of the payload's
   * `heartbeat_seconds` (the state's HeartbeatSecondsPath) fails the wait with States.Timeout.
   */
  private async waitForToken(input: Json): Promise<Json> {
    const { FunctionName, Payload } = input as { FunctionName: string; Payload: { token: string; heartbeat_seconds?: number } };
    const token = Payload.token;
    const heartbeatMs = Payload.heartbeat_seconds ? Payload.heartbeat_seconds * 1000 : 0;
    const settled = new Promise<Json>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const clear = () => timer && clearTimeout(timer);
      const arm = () => {
        if (!heartbeatMs) return;
        clear();
        timer = setTimeout(() => {
          this.waiters.delete(token);
          reject(Object.assign(new Error(`no heartbeat for ${Payload.heartbeat_seconds} s`), { name: 'States.Timeout' }));
        }, heartbeatMs);
      };
      this.waiters.set(token, {
        resolve: (v) => (clear(), resolve(v)),
        reject: (e) => (clear(), reject(e)),
        heartbeat: arm,
      });
      arm();
    });
    try {
      await this.invoke(FunctionName, Payload as unknown as Json);
    } catch (err) {
      this.waiters.delete(token);
      throw err;
    }
    return settled;
  }

  private async runner(input: Json): Promise<Json> {
    const env = (input as { Overrides: { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] } }).Overrides.ContainerOverrides[0].Environment;
    const get = (n: string) => env.find((e) => e.Name === n)?.Value;
    const result = await this.opts.runRunner(Number(get('RUNWAY_TASK_ID')), get('RUNWAY_PHASE') as 'plan' | 'apply', get('RUNWAY_WORKSPACE_ID'));
    return { ExitCode: result.exitCode } as Json;
  }
}
