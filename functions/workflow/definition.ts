/**
 * The one state-machine definition of a run (Amazon States Language, JSONPath).
 *
 * CDK renders it with real ARNs (infra/constructs/workflow.ts); the embedded default renders it with
 * local placeholder ARNs and executes it in-process (local/workflow/executor.ts). Nothing else
 * describes the order of a run's stages.
 *
 * Input of an execution: { task_id: number, workspace_id: string }.
 * Each step Lambda records in the task item what it decided (status, stage, final_status), so the
 * state carries only the little that Choice states need.
 */

export interface RunnerRefs {
  clusterArn: string;
  taskDefinitionArn: string;
  containerName: string;
  subnets: string[];
  securityGroups: string[];
}

export interface RunDefinitionRefs {
  /** functions/handlers/workflow/begin.ts */
  beginFunctionArn: string;
  /** functions/handlers/workflow/prepare-stage.ts: a run-task stage's results, created pending */
  prepareStageFunctionArn: string;
  /** functions/handlers/workflow/dispatch.ts (invoked with .waitForTaskToken, one per run task) */
  dispatchFunctionArn: string;
  /** functions/handlers/workflow/mark-result.ts: a result that timed out or failed to dispatch */
  markResultFunctionArn: string;
  /** functions/handlers/workflow/decide-stage.ts: enforcement levels → the stage passes or not */
  decideStageFunctionArn: string;
  /** functions/handlers/workflow/after-phase.ts */
  afterPhaseFunctionArn: string;
  /** functions/handlers/workflow/await-confirmation.ts (invoked with .waitForTaskToken) */
  awaitConfirmationFunctionArn: string;
  /** functions/handlers/workflow/finalize.ts */
  finalizeFunctionArn: string;
  runner: RunnerRefs;
}

/** Names of the states; the embedded executor finds its overrides by these. */
export const STATE = {
  begin: 'Begin',
  prePlan: 'PrePlan',
  prePlanPassed: 'PrePlanPassed',
  plan: 'Plan',
  afterPlan: 'AfterPlan',
  planSucceeded: 'PlanSucceeded',
  postPlan: 'PostPlan',
  postPlanPassed: 'PostPlanPassed',
  applyMode: 'ApplyMode',
  awaitConfirmation: 'AwaitConfirmation',
  confirmed: 'Confirmed',
  preApply: 'PreApply',
  preApplyPassed: 'PreApplyPassed',
  apply: 'Apply',
  afterApply: 'AfterApply',
  applySucceeded: 'ApplySucceeded',
  postApply: 'PostApply',
  finalize: 'Finalize',
} as const;

/** Runner phases: one container (or child process) run each. */
export type RunnerPhase = 'plan' | 'apply';

/** Timeouts, clamped below what the local interpreter's timers can hold (2 147 483 s). */
export const TIMEOUTS = {
  lambdaSeconds: 120,
  runnerSeconds: 6 * 3600,
  /** A plan waits a week for confirmation, then the run errors and frees the workspace. */
  confirmationSeconds: 7 * 24 * 3600,
  /** A run-task result: no progress for its run task's timeout_seconds (heartbeat), 3600 s in all. */
  runTaskResultSeconds: 3600,
} as const;

type State = Record<string, unknown>;

const catchAll = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: STATE.finalize }];

const lambdaRetry = [
  {
    ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
    IntervalSeconds: 1,
    MaxAttempts: 3,
    BackoffRate: 2,
  },
];

function lambdaStep(arn: string, next: string, parameters: State, resultPath: string | null): State {
  return {
    Type: 'Task',
    Resource: arn,
    Parameters: parameters,
    ResultPath: resultPath,
    TimeoutSeconds: TIMEOUTS.lambdaSeconds,
    Retry: lambdaRetry,
    Catch: catchAll,
    Next: next,
  };
}

/**
 * A run-task stage (SPEC §5): Prepare creates a pending result per enabled run task (with none,
 * the run goes straight on); Maps call
 * each endpoint in parallel and waits on its task token (heartbeat = the run task's timeout_seconds,
 * 3600 s in all); results that time out or cannot be dispatched are marked; Decide applies the
 * enforcement levels and leaves `$.stage_result.passed` for the next Choice.
 */
function runTaskStageStates(refs: RunDefinitionRefs, name: string, stage: string, next: string): Record<string, State> {
  const taskId = { 'task_id.$': '$.task_id' };
  const markResult = (status: 'timeout' | 'error'): State => ({
    Type: 'Task',
    Resource: refs.markResultFunctionArn,
    Parameters: { 'result_id.$': '$.result_id', status, 'error.$': '$.error' },
    TimeoutSeconds: TIMEOUTS.lambdaSeconds,
    Retry: lambdaRetry,
    End: true,
  });
  return {
    [name]: {
      Type: 'Task',
      Resource: refs.prepareStageFunctionArn,
      Parameters: { ...taskId, 'workspace_id.$': '$.workspace_id', stage },
      // {count, batches, passed}: a stage without run tasks goes straight on (or stops on a cancel).
      ResultPath: '$.stage_result',
      TimeoutSeconds: TIMEOUTS.lambdaSeconds,
      Retry: lambdaRetry,
      Catch: catchAll,
      Next: `${name}HasTasks`,
    },
    [`${name}HasTasks`]: {
      Type: 'Choice',
      Choices: [{ Variable: '$.stage_result.count', NumericGreaterThan: 0, Next: `${name}Tasks` }],
      Default: next,
    },
    // Map of Maps: an inline Map runs at most 40 iterations at once, so Prepare hands out batches
    // of at most 40 and every run task of the stage is called at the same time.
    [`${name}Tasks`]: {
      Type: 'Map',
      ItemsPath: '$.stage_result.batches',
      ItemSelector: { 'task_id.$': '$.task_id', 'batch.$': '$$.Map.Item.Value' },
      MaxConcurrency: 0,
      ItemProcessor: {
        ProcessorConfig: { Mode: 'INLINE' },
        StartAt: `${name}Batch`,
        States: {
          [`${name}Batch`]: {
            Type: 'Map',
            ItemsPath: '$.batch',
            ItemSelector: {
              'task_id.$': '$.task_id',
              'result_id.$': '$$.Map.Item.Value.result_id',
              'heartbeat_seconds.$': '$$.Map.Item.Value.timeout_seconds',
            },
            MaxConcurrency: 0,
            ItemProcessor: {
              ProcessorConfig: { Mode: 'INLINE' },
              StartAt: `${name}Dispatch`,
              States: {
                [`${name}Dispatch`]: {
                  Type: 'Task',
                  Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
                  Parameters: {
                    FunctionName: refs.dispatchFunctionArn,
                    // The result's full key, so Dispatch reads it in one request.
                    Payload: { 'task_id.$': '$.task_id', stage, 'result_id.$': '$.result_id', 'heartbeat_seconds.$': '$.heartbeat_seconds', 'token.$': '$$.Task.Token' },
                  },
                  HeartbeatSecondsPath: '$.heartbeat_seconds',
                  TimeoutSeconds: TIMEOUTS.runTaskResultSeconds,
                  Retry: lambdaRetry,
                  ResultPath: null,
                  Catch: [
                    { ErrorEquals: ['States.Timeout', 'States.HeartbeatTimeout'], ResultPath: '$.error', Next: `${name}MarkTimeout` },
                    { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: `${name}MarkError` },
                  ],
                  End: true,
                },
                [`${name}MarkTimeout`]: markResult('timeout'),
                [`${name}MarkError`]: markResult('error'),
              },
            },
            ResultPath: null,
            End: true,
          },
        },
      },
      ResultPath: null,
      Catch: catchAll,
      Next: `${name}Decide`,
    },
    [`${name}Decide`]: {
      Type: 'Task',
      Resource: refs.decideStageFunctionArn,
      Parameters: { ...taskId, stage },
      ResultPath: '$.stage_result',
      TimeoutSeconds: TIMEOUTS.lambdaSeconds,
      Retry: lambdaRetry,
      Catch: catchAll,
      Next: next,
    },
  };
}

/** Continue when the stage passed, otherwise finish (the stage recorded why). */
function passedChoice(next: string): State {
  return {
    Type: 'Choice',
    Choices: [{ Variable: '$.stage_result.passed', BooleanEquals: true, Next: next }],
    Default: STATE.finalize,
  };
}

function runnerStep(runner: RunnerRefs, phase: RunnerPhase, next: string): State {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::ecs:runTask.sync',
    Parameters: {
      LaunchType: 'FARGATE',
      Cluster: runner.clusterArn,
      TaskDefinition: runner.taskDefinitionArn,
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          Subnets: runner.subnets,
          SecurityGroups: runner.securityGroups,
          AssignPublicIp: 'DISABLED',
        },
      },
      Overrides: {
        ContainerOverrides: [
          {
            Name: runner.containerName,
            Environment: [
              { Name: 'RUNWAY_TASK_ID', 'Value.$': "States.Format('{}', $.task_id)" },
              { Name: 'RUNWAY_PHASE', Value: phase },
              { Name: 'RUNWAY_WORKSPACE_ID', 'Value.$': '$.workspace_id' },
            ],
          },
        ],
      },
    },
    // The runner records its outcome in the task item; the ECS description is not needed.
    ResultPath: null,
    TimeoutSeconds: TIMEOUTS.runnerSeconds,
    Catch: catchAll,
    Next: next,
  };
}

function outcomeChoice(next: string): State {
  return {
    Type: 'Choice',
    Choices: [{ Variable: '$.phase_result.outcome', StringEquals: 'success', Next: next }],
    Default: STATE.finalize,
  };
}

export function buildRunDefinition(refs: RunDefinitionRefs): Record<string, unknown> {
  const taskId = { 'task_id.$': '$.task_id' };
  const states: Record<string, State> = {
    [STATE.begin]: lambdaStep(refs.beginFunctionArn, STATE.prePlan, taskId, null),
    ...runTaskStageStates(refs, STATE.prePlan, 'pre_plan', STATE.prePlanPassed),
    [STATE.prePlanPassed]: passedChoice(STATE.plan),
    [STATE.plan]: runnerStep(refs.runner, 'plan', STATE.afterPlan),
    [STATE.afterPlan]: lambdaStep(refs.afterPhaseFunctionArn, STATE.planSucceeded, { ...taskId, 'workspace_id.$': '$.workspace_id', phase: 'plan' }, '$.phase_result'),
    [STATE.planSucceeded]: outcomeChoice(STATE.postPlan),
    ...runTaskStageStates(refs, STATE.postPlan, 'post_plan', STATE.postPlanPassed),
    [STATE.postPlanPassed]: passedChoice(STATE.applyMode),
    [STATE.applyMode]: {
      Type: 'Choice',
      Choices: [
        { Variable: '$.phase_result.apply', StringEquals: 'auto', Next: STATE.preApply },
        { Variable: '$.phase_result.apply', StringEquals: 'confirm', Next: STATE.awaitConfirmation },
      ],
      Default: STATE.finalize,
    },
    [STATE.awaitConfirmation]: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: refs.awaitConfirmationFunctionArn,
        Payload: { ...taskId, 'token.$': '$$.Task.Token' },
      },
      ResultPath: '$.confirmation',
      TimeoutSeconds: TIMEOUTS.confirmationSeconds,
      Catch: catchAll,
      Next: STATE.confirmed,
    },
    [STATE.confirmed]: {
      Type: 'Choice',
      Choices: [{ Variable: '$.confirmation.decision', StringEquals: 'confirm', Next: STATE.preApply }],
      Default: STATE.finalize,
    },
    ...runTaskStageStates(refs, STATE.preApply, 'pre_apply', STATE.preApplyPassed),
    [STATE.preApplyPassed]: passedChoice(STATE.apply),
    [STATE.apply]: runnerStep(refs.runner, 'apply', STATE.afterApply),
    [STATE.afterApply]: lambdaStep(refs.afterPhaseFunctionArn, STATE.applySucceeded, { ...taskId, 'workspace_id.$': '$.workspace_id', phase: 'apply' }, '$.phase_result'),
    [STATE.applySucceeded]: outcomeChoice(STATE.postApply),
    // post_apply results never change the outcome: whatever it returns, the run goes on to Finalize.
    ...runTaskStageStates(refs, STATE.postApply, 'post_apply', STATE.finalize),
    [STATE.finalize]: {
      Type: 'Task',
      Resource: refs.finalizeFunctionArn,
      // No Parameters: Finalize reads the whole state, `error` included when a step failed.
      TimeoutSeconds: TIMEOUTS.lambdaSeconds,
      Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 5, BackoffRate: 2 }],
      End: true,
    },
  };
  return {
    Comment: 'Runway: one run (task) of a workspace, stage by stage',
    StartAt: STATE.begin,
    States: states,
  };
}
